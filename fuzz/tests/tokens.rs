//! The token parser and verifier, on the vectors of `shared/token` (`corpus/token/`: app id,
//! certificate and token on one line) mutated, and on random text: nothing panics, and a
//! mutated token that still verifies says exactly what the original said (the signature
//! covers every field), so no mutation forges a token.

use confab_fuzz::{config, corpus, inputs};
use confab_token::{decode, peek_app_id, verify, TokenUse};
use proptest::prelude::*;

struct Seed {
    app_id: String,
    certificate: String,
    token: String,
}

fn seeds() -> Vec<Seed> {
    corpus("token")
        .into_iter()
        .map(|line| {
            let line = String::from_utf8(line).expect("text");
            let mut fields = line.split_whitespace().map(str::to_owned);
            let mut next = || fields.next().expect("app id, certificate, token");
            Seed {
                app_id: next(),
                certificate: next(),
                token: next(),
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_token_verifies_only_as_it_was_signed(
        (seed, mutated) in {
            let seeds = seeds();
            let tokens: Vec<Vec<u8>> = seeds.iter().map(|seed| seed.token.clone().into_bytes()).collect();
            (0..seeds.len(), inputs(tokens, 512))
        }
    ) {
        let seeds = seeds();
        let seed = &seeds[seed];
        let text = String::from_utf8_lossy(&mutated);
        let _ = peek_app_id(&text);
        let decoded = decode(&text);
        for token_use in [
            TokenUse::Parse,
            TokenUse::Login { user: "leo", user_uuid: None },
            TokenUse::RestApp,
        ] {
            let verified = verify(&text, &seed.app_id, &[&seed.certificate], token_use, 0);
            if let (Ok(verified), Ok(decoded)) = (verified, &decoded) {
                // Verifying needs the token to decode; and then some vector verifies as it
                // is: the mutation left what the signature covers unchanged.
                let original = seeds
                    .iter()
                    .filter(|other| other.app_id == seed.app_id)
                    .filter_map(|other| decode(&other.token).ok())
                    .find(|original| original.issue_ts() == decoded.issue_ts()
                        && original.salt() == decoded.salt()
                        && original.signed_info() == decoded.signed_info());
                prop_assert!(original.is_some(), "a forged token verified: {verified:?}");
            }
        }
    }
}
