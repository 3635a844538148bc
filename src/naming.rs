//! Rules for an instance's name and for the base URL it is reached on,
//! shared by the instance's settings and the configuration server, which
//! checks what an instance announces at log-in.

use axum::http::Uri;

/// Longest base URL accepted, in bytes.
pub const MAX_BASE_URL: usize = 256;

/// What an instance name may be, for messages.
pub const INSTANCE_NAME_RULE: &str = "must be 1 to 63 characters of a-z, 0-9, '-' or '_'";

/// What a base URL may be, for messages.
pub const BASE_URL_RULE: &str =
    "must be an http:// or https:// URL of at most 256 bytes, without user or password";

/// 1 to 63 characters of a-z, 0-9, `-` or `_`: it names databases, units
/// and log fields.
pub fn valid_instance_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// An `http://` or `https://` URL with a host, short enough to list, and
/// with no credentials in it (it is shown to every reader).
pub fn valid_base_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<Uri>() else {
        return false;
    };
    url.len() <= MAX_BASE_URL
        && matches!(uri.scheme_str(), Some("http" | "https"))
        && uri.authority().is_some_and(|a| !a.as_str().contains('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert!(valid_base_url("http://10.0.0.5:7201"));
        assert!(valid_base_url("https://sales.example.com/"));
        for bad in [
            "10.0.0.5:7201",
            "ftp://h",
            "http://",
            "not a url",
            "http://user:pw@h:1",
        ] {
            assert!(!valid_base_url(bad), "{bad}");
        }
        assert!(!valid_base_url(&format!("http://{}", "h".repeat(300))));
    }

    #[test]
    fn instance_names() {
        assert!(valid_instance_name("sales-2"));
        for bad in ["", "Sales", "a b", &"x".repeat(64)] {
            assert!(!valid_instance_name(bad), "{bad}");
        }
    }
}
