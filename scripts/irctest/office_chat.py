"""irctest controller for chat-server (the office chat's IRC front door).

irctest (progval/irctest) imports this module with `--controller office_chat`
when scripts/irctest is on PYTHONPATH; scripts/irctest/run does that. Each
test starts a fresh server with its room in memory, on the port irctest
chose, calling itself My.Little.Server (which irctest expects), without
joining IRC clients to #main (irctest counts every line after JOIN), and with
the operator irctest's tests log in as (`OPER operuser operpassword`).
"""

import atexit
import os
import shutil
import subprocess
from typing import List, Optional, Set, Type

from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController

# Every server this worker started. irctest stops each in tearDown, but a
# test whose setUp fails after the server started never reaches tearDown
# (a full run left 6 servers behind); those are stopped when the worker ends.
_started: List[subprocess.Popen] = []


@atexit.register
def _stop_leftovers() -> None:
    for proc in _started:
        if proc.poll() is None:
            proc.terminate()
    for proc in _started:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class OfficeChatController(BaseServerController, DirectoryBasedController):
    software_name = "office-chat"
    supported_sasl_mechanisms: Set[str] = set()
    supports_sts = False

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
        websocket_hostname: Optional[str],
        websocket_port: Optional[int],
    ) -> None:
        if password is not None:
            raise NotImplementedByController("a server password (PASS logs in to accounts)")
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
        if run_services:
            raise NotImplementedByController("services")
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        tls = []
        if ssl:
            self.gen_ssl()
            tls = ["--tls-cert", str(self.pem_path), "--tls-key", str(self.key_path)]
        faketime_cmd = []
        if faketime and shutil.which("faketime"):
            faketime_cmd = ["faketime", "-f", faketime]
            self.faketime_enabled = True
        server = os.environ.get("CHAT_SERVER", "chat-server")
        self.proc = self.execute(
            [
                *faketime_cmd,
                server,
                "--host", hostname,
                "--port", str(port),
                "--db", "none",
                "--irc-server-name", "My.Little.Server",
                "--irc-no-main",
                "--irc-oper", "operuser:operpassword",
                *tls,
            ]
        )
        _started.append(self.proc)


def get_irctest_controller_class() -> Type[OfficeChatController]:
    return OfficeChatController
