//! The account's token, for a server run with `--auth token`: read from
//! `--token-file` (with a warning when other users can read the file), or
//! asked for on the terminal, without echo, when the server wants one and
//! the desk has none. The session keeps it and sends it on every connection.

use std::io::{self, IsTerminal};
use std::path::Path;

use crate::render;
use crate::screen::Screen;

/// Reads `--token-file`: the token is its first word, so a trailing
/// newline or a comment after it does no harm. Also says, as a warning,
/// if other users may read the file, as SSH does for a private key.
pub fn read_token(path: &Path) -> Result<(String, Option<String>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("--token-file {}: {err}", path.display()))?;
    let token = text
        .split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("--token-file {}: the file is empty", path.display()))?;
    #[cfg(unix)]
    let warning = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0)
            .then(|| render::token_file_readable(path))
    };
    #[cfg(not(unix))]
    let warning = None;
    Ok((token, warning))
}

/// Asks for the account's token on the terminal, without echo.
pub fn ask_token(name: &str, screen: &Screen) -> Result<String, String> {
    if !io::stdin().is_terminal() {
        return Err(format!(
            "the server requires an account, and there is no terminal to ask for \
             {name}'s token on; give it with --token-file PATH"
        ));
    }
    screen.print(&render::account_needed(name));
    let typed = rpassword::prompt_password(format!("Token for {name} (not shown): "))
        .map_err(|err| format!("cannot read the token: {err}"))?;
    let token = typed.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err("no token typed; the server requires one".to_string());
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    /// A file holding `text` in a folder of its own, with `mode` on unix.
    fn token_file(label: &str, text: &str, mode: u32) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("chat-client-token-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        path
    }

    fn remove(path: &Path) {
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn the_token_is_the_first_word_of_the_file() {
        let path = token_file("first-word", "s3cret\n# from user add\n", 0o600);
        assert_eq!(read_token(&path), Ok(("s3cret".to_string(), None)));
        remove(&path);
    }

    #[test]
    fn an_empty_token_file_is_refused() {
        let path = token_file("empty", " \n", 0o600);
        let err = read_token(&path).unwrap_err();
        assert!(err.ends_with(": the file is empty"), "{err}");
        remove(&path);
    }

    #[test]
    fn a_missing_token_file_names_the_flag() {
        let err = read_token(Path::new("/nonexistent/token")).unwrap_err();
        assert!(
            err.starts_with("--token-file /nonexistent/token: "),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_others_can_read_is_warned_about() {
        let path = token_file("readable", "s3cret", 0o644);
        let (_, warning) = read_token(&path).unwrap();
        assert_eq!(warning, Some(render::token_file_readable(&path)));
        remove(&path);
    }
}
