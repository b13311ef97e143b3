//! `burrow user create`: make accounts from the command line, such as the first admin.

use std::io::BufRead;

use anyhow::Context;
use burrow_config::Config;

pub async fn create(config: &Config, email: &str, name: &str, admin: bool) -> anyhow::Result<()> {
    let store = crate::cli::open_store(config).await?;
    eprintln!("Password for {email} (one line on standard input):");
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("Failed to read the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']);
    let user = burrow_service::accounts::create_account(
        &store,
        email,
        name,
        password,
        admin,
        |pw| async move { Ok(burrow_core::password::hash_password(&pw)) },
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot create the user: {e}"))?;
    println!(
        "Created user {} <{}>{}",
        user.id,
        user.email,
        if user.is_admin { " (admin)" } else { "" }
    );
    store.close().await;
    Ok(())
}
