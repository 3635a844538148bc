//! Person passwords and application secrets: argon2id hashes in PHC format.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::model::{Application, Directory, Person, SecretHash};

/// Memory cost in KiB, iterations and lanes of new hashes: the OWASP
/// minimum for argon2id, which verifies in tens of milliseconds.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

/// Hash of a random string nobody knows, with the parameters above. Checked
/// when a login names nobody known, so that such a login takes as long as a
/// real one and does not reveal which names exist.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ws4CJiuF3dBr5YWDw4kO9A$9J9qsee9fmUyk+/WAAksMcC2BXPUjHbn0G4mLDHsRKg";

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
        .expect("the argon2 parameters are compile-time constants within range");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password or an application secret for the configuration files
/// (`ixs hash-password`): argon2id, random salt, PHC string.
pub fn hash_secret(plain: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(plain.as_bytes(), &salt)
        .expect("hashing with a fresh salt and valid parameters cannot fail")
        .to_string()
}

/// Checks `plain` against a PHC string in constant time. A malformed hash
/// never verifies.
pub fn verify_secret(plain: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => hasher().verify_password(plain.as_bytes(), &hash).is_ok(),
        Err(_) => false,
    }
}

/// Checks that `phc` is an argon2 PHC string that [`verify_secret`] can use.
pub fn check_secret_hash(phc: &str) -> Result<(), String> {
    let hash = PasswordHash::new(phc).map_err(|e| format!("not a PHC string ({e})"))?;
    let algorithm = hash.algorithm.as_str();
    if !matches!(algorithm, "argon2id" | "argon2i" | "argon2d") {
        return Err(format!(
            "algorithm '{algorithm}' is not argon2 (use `ixs hash-password`)"
        ));
    }
    Params::try_from(&hash).map_err(|e| format!("invalid argon2 parameters ({e})"))?;
    if hash.hash.is_none() || hash.salt.is_none() {
        return Err("the PHC string has no salt or no hash".to_owned());
    }
    Ok(())
}

/// Verifies against `stored`, or against the decoy when there is nothing to
/// verify against, so that both paths cost the same.
fn verify_or_decoy(plain: &str, stored: Option<&SecretHash>) -> bool {
    match stored {
        Some(hash) => verify_secret(plain, hash.as_str()),
        None => {
            let _ = verify_secret(plain, DECOY_HASH);
            false
        }
    }
}

impl Directory {
    /// The person, when `password` is its password. An unknown name or a
    /// person without a password takes as long as a wrong password.
    pub fn verify_person(&self, name: &str, password: &str) -> Option<&Person> {
        let person = self.persons.get(name);
        let stored = person.and_then(|p| p.password_hash.as_ref());
        verify_or_decoy(password, stored)
            .then_some(person)
            .flatten()
    }

    /// The application, when `secret` is its secret. An unknown name takes as
    /// long as a wrong secret.
    pub fn verify_application(&self, name: &str, secret: &str) -> Option<&Application> {
        let application = self.applications.get(name);
        let stored = application.and_then(|a| a.secret_hash.as_ref());
        verify_or_decoy(secret, stored)
            .then_some(application)
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let phc = hash_secret("correct horse");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(check_secret_hash(&phc).is_ok());
        assert!(verify_secret("correct horse", &phc));
        assert!(!verify_secret("correct horse!", &phc));
        assert_ne!(phc, hash_secret("correct horse"), "salts differ");
    }

    #[test]
    fn decoy_is_a_valid_hash() {
        assert!(check_secret_hash(DECOY_HASH).is_ok());
        assert!(!verify_secret("", DECOY_HASH));
    }

    #[test]
    fn rejects_what_is_not_argon2() {
        assert!(check_secret_hash("demo").is_err());
        assert!(check_secret_hash("$argon2id$v=19$m=19456,t=2,p=1$").is_err());
        let scrypt = "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E";
        assert!(
            check_secret_hash(scrypt)
                .unwrap_err()
                .contains("not argon2")
        );
        assert!(!verify_secret("x", "not a hash"));
    }
}
