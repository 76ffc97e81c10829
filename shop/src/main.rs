//! `shopml-shop`: the reference shop service. `shopml-shop [--config shop.toml]`; every setting also
//! reads a `SHOP_*` environment variable (see `Config::load`).

use anyhow::Context;
use shopml_shop::config::Config;

fn usage() -> ! {
    eprintln!("usage: shopml-shop [--config FILE]\n  settings: FILE (TOML) and SHOP_* environment variables; see shop/README.md");
    std::process::exit(2)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut file = std::env::var_os("SHOP_CONFIG").map(std::path::PathBuf::from);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => file = Some(args.next().unwrap_or_else(|| usage()).into()),
            "-h" | "--help" => usage(),
            other => {
                eprintln!("unknown argument {other:?}");
                usage()
            }
        }
    }
    let config = Config::load(file.as_deref())?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    let fmt = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format.as_str() {
        "json" => fmt.json().init(),
        _ => fmt.init(),
    }
    let t = std::time::Instant::now();
    let shop = shopml_shop::start(config).await?;
    let listener =
        tokio::net::TcpListener::bind(&shop.config.bind).await.with_context(|| format!("bind {}", shop.config.bind))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "shopml-shop ready in {:.1} s on http://{addr} — try: curl 'http://{addr}/products?q=heart&per_page=3'",
        t.elapsed().as_secs_f32()
    );
    if shop.config.wants_demo_accounts() {
        eprintln!(
            "demo logins {}, {}, {} (password: config key demo_password, default \"demo-password\")",
            shopml_shop::db::DEMO_CUSTOMER,
            shopml_shop::db::DEMO_DEALER,
            shopml_shop::db::DEMO_ADMIN
        );
    }
    shopml_shop::serve(shop, listener, shutdown_signal()).await
}
