//! `confab --version` names the release and the commit it was built from.

#[test]
fn the_version_names_the_release_and_the_build() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .arg("--version")
        .output()
        .expect("confab runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let expected = format!(
        "confab {} ({})",
        env!("CARGO_PKG_VERSION"),
        env!("CONFAB_BUILD")
    );
    assert_eq!(text.trim(), expected);
    assert!(!env!("CONFAB_BUILD").is_empty());
}
