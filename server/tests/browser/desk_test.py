#!/usr/bin/env python3
"""The browser desk in a real browser: Debian's headless Chromium, driven by
Selenium through Debian's chromedriver, against the real chat-server binary.

Two browser desks (alice, bob) and a terminal desk (carol: the real
chat-client, its input and output on pipes) chat in #main and #dev; bob's
tab, hidden, gets a direct message and the page shows a notification and
plays the chime (the page counts both, the test reads the counts); the
server is killed with SIGKILL and started again on the same port and log:
both pages and the terminal desk reconnect by themselves, every message
shows once, and alice's half-typed line is still in her input; a corpus of XSS payloads in a name, messages, a
topic, a direct message and search results is shown as text. Screenshots
of the desk at desktop and phone width are taken last.

Everything is started and stopped here: the server by its PID, the
browsers through their drivers. Every wait is bounded; the first failed
check ends the run with a message and a non-zero exit.

    desk_test.py --server PATH/chat-server --client PATH/chat-client --out DIR
                 [--screenshots DIR]

Run by server/tests/browser.rs (so by `cargo test`), which decides whether
a missing browser skips it (a developer's machine) or fails it (CI).
"""

import argparse
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

SEP = "<SEP>"
WAIT = 15  # seconds any one expectation may take
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Payloads that would run script, or make markup, if a page put room text
# into HTML. Each must show as the very text it is.
XSS_NAME = "<img/src=x/onerror=pwn(1)>"
XSS_TEXTS = [
    "<script>pwn(2)</script>",
    '<img src=x onerror="pwn(3)">',
    "<svg/onload=pwn(4)>",
    '"><iframe src=javascript:pwn(5)>',
    "<b>not bold</b> &lt;b&gt; &amp;",
    "javascript:pwn(6)",
]
XSS_TOPIC = "<img src=x onerror=pwn(7)> topic"


def fail(message):
    raise AssertionError(message)


def wait_until(what, predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """The real chat-server, on a fixed port and log file, so a restart
    comes back where the pages look for it."""

    def __init__(self, binary, port, db, log_path):
        self.binary, self.port, self.db, self.log_path = binary, port, db, log_path
        self.process = None

    def start(self):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [self.binary, "--host", "127.0.0.1", "--port", str(self.port), "--db", self.db],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_until("the server to listen", self.listening)

    def listening(self):
        if self.process.poll() is not None:
            fail(f"the server exited with {self.process.returncode}; see {self.log_path}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def kill(self):
        """SIGKILL by PID: no goodbye to anyone, as a crash."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=WAIT)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Lines:
    """What a desk showed or was sent, line by line, as a reader thread
    hands it over (`None` once it ended), with bounded waits."""

    def __init__(self, who):
        self.who = who
        self.queue = queue.Queue()
        self.seen = []

    def put(self, line):
        self.queue.put(line)

    def wait_for(self, what, predicate):
        """Waits for a line `predicate` accepts; returns it."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                fail(f"{self.who} ended waiting for {what}; last lines {self.seen[-5:]}")
            self.seen.append(line)
            if predicate(line):
                return line
        fail(f"{self.who} waited for {what} in vain; last lines {self.seen[-5:]}")

    def count(self, text):
        """How many lines so far hold `text`."""
        while not self.queue.empty():
            line = self.queue.get_nowait()
            if line is not None:
                self.seen.append(line)
        return sum(text in line for line in self.seen)


class TerminalDesk:
    """The real chat-client, typed into and read through pipes: the
    terminal desk, with its own reconnecting and its own rooms."""

    def __init__(self, binary, port, name):
        self.process = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(port), "--name", name, "--mute"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)
        self.lines = Lines(f"the terminal desk {name}")
        threading.Thread(target=self.read, daemon=True).start()
        self.wait_for(f"You are {name}")

    def read(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def type(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait_for(self, text):
        """Waits until a line showing `text` is printed; returns it."""
        return self.lines.wait_for(repr(text), lambda line: text in line)

    def count(self, text):
        return self.lines.count(text)

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT)


class LineDesk:
    """A desk of our line protocol over TCP, as nc would speak it."""

    def __init__(self, port, name):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.lines = Lines(f"the line desk {name}")
        threading.Thread(target=self.read, daemon=True).start()
        self.send(f"/join {name}")
        self.wait_for("its welcome", lambda line: line.startswith(f"WELCOME{SEP}{name}{SEP}"))

    def read(self):
        buffered = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.lines.put(None)
                return
            buffered += chunk
            *whole, buffered = buffered.split(b"\n")
            for line in whole:
                self.lines.put(line.decode("utf-8", "replace"))

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def say(self, text):
        self.send(f"{self.name}{SEP}{text}")

    def wait_for(self, what, predicate):
        return self.lines.wait_for(what, predicate)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Page:
    """One browser desk: its own headless Chromium, its own profile."""

    def __init__(self, base, width=1280, height=800):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--autoplay-policy=no-user-gesture-required",
                     f"--window-size={width},{height}",
                     f"--user-data-dir={tempfile.mkdtemp(prefix='desk-profile-')}"]:
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(WAIT)
        self.base = base
        self.driver.execute_cdp_cmd(
            "Browser.grantPermissions", {"permissions": ["notifications"], "origin": base})
        self.driver.get(base + "/")
        self.page_tab = self.driver.current_window_handle
        # A hook the XSS check reads: any payload that ran would call it.
        self.driver.execute_script("window.pwn = (n) => { window.pwned = (window.pwned || []).concat(n); };")
        wait_until("the page to start", lambda: self.js("return document.body.dataset.chimes") == "0")

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def type(self, *keys):
        """Types into whatever has the focus: the desk works by keyboard."""
        self.driver.switch_to.active_element.send_keys(*keys)

    def line(self, text):
        self.type(text, Keys.ENTER)

    def focused_id(self):
        return self.js("return document.activeElement && document.activeElement.id")

    def status(self):
        return self.js("return document.getElementById('status').textContent")

    def log_text(self, room):
        return self.js(
            "const l = document.querySelector(`ol.log[data-room='${arguments[0]}']`);"
            "return l ? l.textContent : '';", room)

    def wait_text(self, room, text):
        wait_until(f"{text!r} in {room} at {self.base}", lambda: text in self.log_text(room))

    def ids(self, room):
        return self.js(
            "return [...document.querySelectorAll(`ol.log[data-room='${arguments[0]}'] li[data-id]`)]"
            ".map((li) => li.dataset.id);", room)

    def count(self, what):
        return int(self.js(f"return document.body.dataset.{what} || '0'"))

    def unread(self, room):
        return self.js(
            "for (const b of document.querySelectorAll('#room-list button')) {"
            "  if (b.firstChild.textContent === arguments[0]) {"
            "    const u = b.querySelector('.unread'); return u.hidden ? 0 : Number(u.textContent); } }"
            "return -1;", room)

    def current_room(self):
        return self.js("return document.querySelector('#room-list button[aria-current=\"true\"]').firstChild.textContent")

    def alt(self, key):
        """Alt+key, where the focus is."""
        ActionChains(self.driver).key_down(Keys.ALT).send_keys(key).key_up(Keys.ALT).perform()

    def hide(self):
        """Another tab in front: the desk's is hidden, as when its person
        works in another. The desk's own tab counts what it showed."""
        self.js("window.hiddenSeen = false; document.addEventListener('visibilitychange',"
                " () => { if (document.hidden) window.hiddenSeen = true; });")
        self.driver.switch_to.new_window("tab")
        self.driver.get("about:blank")

    def hidden_title(self):
        """The desk's title while another tab is in front, read without
        bringing it back: it counts what arrived unread."""
        targets = self.driver.execute_cdp_cmd("Target.getTargets", {})["targetInfos"]
        titles = [t["title"] for t in targets if t["type"] == "page" and t["url"].startswith(self.base)]
        return titles[0] if titles else None

    def show(self):
        """Back to the desk's tab; says whether it was hidden meanwhile."""
        self.driver.close()
        self.driver.switch_to.window(self.page_tab)
        return self.js("return window.hiddenSeen")

    def shot(self, path, width, height):
        self.driver.set_window_size(width, height)
        time.sleep(0.3)
        self.driver.save_screenshot(path)

    def quit(self):
        try:
            self.driver.quit()
        except Exception:  # the browser may be gone already
            pass


def check_inert(page):
    """Every payload shown as text: nothing ran, no element came of it."""
    pwned = page.js("return window.pwned || null")
    if pwned:
        fail(f"payloads ran: {pwned}")
    made = page.js(
        "return [...document.querySelectorAll('#logs *, #topic *')]"
        ".map((e) => e.tagName.toLowerCase())"
        ".filter((t) => !['ol', 'li', 'span', 'time'].includes(t));")
    if made:
        fail(f"room text became elements: {made}")


def run(args):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = args.out
    server = Server(args.server, port, os.path.join(out, "room.db"), os.path.join(out, "server.log"))
    pages, desks = [], []
    try:
        server.start()
        alice = Page(base)
        pages.append(alice)
        bob = Page(base)
        pages.append(bob)

        # The input has the focus on opening: the name first, then lines.
        for page in (alice, bob):
            if page.focused_id() != "input":
                fail(f"the input should have the focus, not {page.focused_id()!r}")
        alice.line("alice")
        bob.line("bob green")
        wait_until("alice's welcome", lambda: alice.status().startswith("You are alice"))
        wait_until("bob's welcome", lambda: bob.status().startswith("You are bob"))
        if alice.js("return localStorage.getItem('chat.name')") != "alice":
            fail("the name is remembered for the next visit")
        carol = TerminalDesk(args.client, port, "carol")
        desks.append(carol)

        # #main: browser to browser to terminal and back.
        alice.line("hello from a browser")
        bob.wait_text("#main", "alice: hello from a browser")
        carol.wait_for("alice: hello from a browser")
        carol.type("hi both, from the terminal")
        alice.wait_text("#main", "carol: hi both, from the terminal")
        bob.wait_text("#main", "carol: hi both, from the terminal")

        # #dev: made by a browser, entered by all three.
        alice.line("/join #dev")
        wait_until("alice in #dev", lambda: alice.current_room() == "#dev")
        bob.line("/join #dev")
        wait_until("bob in #dev", lambda: bob.current_room() == "#dev")
        carol.type("/join #dev")
        carol.wait_for("Now in #dev")
        alice.line("the build is green")
        bob.wait_text("#dev", "alice: the build is green")
        carol.wait_for("alice: the build is green")
        carol.type("merging now")
        alice.wait_text("#dev", "carol: merging now")
        bob.wait_text("#dev", "carol: merging now")
        if "merging now" in bob.log_text("#main"):
            fail("a #dev line showed in #main")

        # Unread counts: bob goes back to #main by keyboard; #dev counts.
        bob.alt(Keys.ARROW_UP)
        wait_until("bob back in #main", lambda: bob.current_room() == "#main")
        carol.type("one more for bob")
        wait_until("bob's unread count in #dev", lambda: bob.unread("#dev") == 1)
        if bob.focused_id() != "input":
            fail("switching rooms by keyboard keeps the input focused")

        # The chime: others' lines, once per burst, never one's own.
        wait_until("alice's first chime", lambda: alice.count("chimes") >= 1)
        time.sleep(2.2)  # past notify.rs's burst interval
        before = alice.count("chimes")
        carol.type("/go #main")
        carol.wait_for("Now in #main")
        for n in range(5):
            carol.type(f"burst line {n}")
        alice.wait_text("#main", "burst line 4")
        wait_until("the burst's chime", lambda: alice.count("chimes") == before + 1)
        time.sleep(2.2)
        before = alice.count("chimes")
        alice.line("my own line makes no sound")
        bob.wait_text("#dev", "my own line makes no sound")
        time.sleep(1.0)
        if alice.count("chimes") != before:
            fail("alice's own line chimed on her desk")

        # A direct message to a hidden tab: a notification and the chime.
        bob_chimes = bob.count("chimes")
        unread_title = bob.js("return document.title")
        bob.hide()
        time.sleep(2.2)
        alice.line("/msg bob are you free at 3?")
        # The hidden tab's title counts the direct message once it took it.
        wait_until("the direct message in bob's hidden tab", lambda: bob.hidden_title() not in (None, unread_title))
        if not bob.show():
            fail("bob's tab was never hidden")
        bob.wait_text("@direct", "alice → you: are you free at 3?")
        wait_until("bob's notification", lambda: bob.count("notifications") >= 1)
        wait_until("bob's chime for the direct message", lambda: bob.count("chimes") > bob_chimes)
        if bob.count("notifications") != 1:
            fail(f"one direct message to a hidden tab, {bob.count('notifications')} notifications")
        if bob.unread("Direct messages") != 0 and bob.current_room() == "Direct messages":
            fail("the room shown has nothing unread")
        # The room list wraps: above #main are the direct messages.
        bob.alt(Keys.ARROW_UP)
        wait_until("bob in the direct messages", lambda: bob.current_room() == "Direct messages")
        bob.line("yes, see you then")
        alice.wait_text("@direct", "bob → you: yes, see you then")

        # The screenshots: the conversation at desktop and at phone width,
        # a mention highlighted, a line being typed.
        bob.alt(Keys.ARROW_DOWN)
        alice.alt(Keys.ARROW_UP)
        wait_until("both in #main", lambda: alice.current_room() == "#main" and bob.current_room() == "#main")
        bob.line("@alice the demo is at 3, in the big room")
        alice.wait_text("#main", "the demo is at 3")
        alice.type("see you there")
        shots = args.screenshots or out
        alice.shot(os.path.join(shots, "browser-desk-desktop.png"), 1280, 800)
        alice.shot(os.path.join(shots, "browser-desk-phone.png"), 390, 844)
        alice.driver.set_window_size(1280, 800)
        alice.type(Keys.CONTROL, "a")
        alice.type(Keys.DELETE)

        # kill -9 and restart: nothing missed, nothing doubled, the
        # half-typed line kept.
        alice.type("half-typed, not sent")
        server.kill()
        wait_until("alice to see the loss", lambda: "reconnecting" in alice.status())
        bob.line("typed while the server was down")
        server.start()
        # The terminal desk comes back by itself, to #main and #dev.
        carol.wait_for("reconnected as carol")
        carol.type("right after the restart")
        carol.type("/go #dev")
        carol.wait_for("Now in #dev")
        carol.type("dev after the restart")
        wait_until("alice back", lambda: alice.status().startswith("You are alice"))
        wait_until("bob back", lambda: bob.status().startswith("You are bob"))
        # Shown before or after her rooms came back: an earlier wait may
        # have read it already, so look at everything she showed.
        wait_until("carol to show bob's line",
                   lambda: carol.count("bob: typed while the server was down") >= 1)
        for page in (alice, bob):
            page.wait_text("#main", "carol: right after the restart")
            page.wait_text("#main", "bob: typed while the server was down")
            page.wait_text("#dev", "carol: dev after the restart")
            for room in ("#main", "#dev", "@direct"):
                ids = page.ids(room)
                if len(ids) != len(set(ids)):
                    fail(f"a message shows twice in {room}: {ids}")
            for text in ("hello from a browser", "the build is green", "burst line 3"):
                if page.log_text("#main").count(text) + page.log_text("#dev").count(text) != 1:
                    fail(f"{text!r} should show once after the restart")
        for text in ("alice: hello from a browser", "alice: the build is green",
                     "bob: typed while the server was down"):
            if carol.count(text) != 1:
                fail(f"the terminal desk shows {text!r} {carol.count(text)} times")
        for room, text in (("#main", "typed while the server was down"), ("#dev", "dev after the restart")):
            if alice.log_text(room).count(text) != 1:
                fail(f"{text!r} shows {alice.log_text(room).count(text)} times in alice's {room}")
        if alice.js("return document.getElementById('input').value") != "half-typed, not sent":
            fail("the half-typed line was lost")
        alice.type(Keys.CONTROL, "a")
        alice.type(Keys.DELETE)

        # XSS: a name, messages, a topic, a direct message and search
        # results full of markup, all shown as text.
        mallory = LineDesk(port, XSS_NAME)
        desks.append(mallory)
        mallory.send("/room join #dev")
        mallory.wait_for("#dev", lambda l: l.startswith(f"INROOM{SEP}#dev{SEP}"))
        for text in XSS_TEXTS:
            mallory.say(text)
        mallory.send(f"/room topic #dev {XSS_TOPIC}")
        mallory.send(f"/msg alice {XSS_TEXTS[1]}")
        for text in XSS_TEXTS:
            alice.wait_text("#main", f"{XSS_NAME}: {text}")
        alice.wait_text("@direct", XSS_TEXTS[1])
        alice.wait_text("#dev", XSS_TOPIC)
        alice.line("/search pwn")
        wait_until("the search results", lambda: alice.js("return document.querySelectorAll('li.found').length") >= len(XSS_TEXTS))
        check_inert(alice)
        alice.alt(Keys.ARROW_DOWN)
        wait_until("alice in #dev", lambda: alice.current_room() == "#dev")
        if XSS_TOPIC not in alice.js("return document.getElementById('topic').textContent"):
            fail("the topic should show as text")
        check_inert(alice)
        check_inert(bob)

        print("browser desk: all checks passed")
    finally:
        for page in pages:
            page.quit()
        for desk in desks:
            desk.close()
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="the chat-server binary")
    parser.add_argument("--client", required=True, help="the chat-client binary")
    parser.add_argument("--out", required=True, help="a folder for the log, the room's log and screenshots")
    parser.add_argument("--screenshots", help="where the README's screenshots go (default: --out)")
    args = parser.parse_args()
    try:
        run(args)
    except AssertionError as failure:
        print(f"browser desk: FAILED: {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
