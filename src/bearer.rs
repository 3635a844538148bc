//! The `Authorization: Bearer <token>` credentials both servers read
//! (RFC 6750 §2.1). The scheme is case-insensitive (RFC 9110 §11.1).

/// The token of a bearer credential, trimmed; `None` when `value` names
/// another scheme or no token at all.
pub fn token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::token;

    #[test]
    fn the_scheme_is_case_insensitive() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR  abc "] {
            assert_eq!(token(value), Some("abc"), "{value}");
        }
    }

    #[test]
    fn another_scheme_or_no_token_is_none() {
        for value in ["Basic abc", "Bearerabc", "abc", "Bearer", "", " Bearer abc"] {
            assert_eq!(token(value), None, "{value:?}");
        }
        assert_eq!(token("Bearer "), Some(""));
    }
}
