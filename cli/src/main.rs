//! `shopml`: train, evaluate and query shopml's recommenders and chatbot from the command line.

mod chat;
mod progress;
mod reco;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "shopml", version, about = "Recommendations and customer-support NLP for online shops")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Recommendation: evaluate models, recommend for a customer.
    #[command(subcommand)]
    Reco(Box<reco::RecoCommand>),
    /// Customer-support chat: train and evaluate intent models.
    #[command(subcommand)]
    Chat(Box<chat::ChatCommand>),
    /// Train on the shipped Online Retail data and print a customer's top 10 (the README's first command).
    Demo(reco::DemoArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Reco(cmd) => reco::run(*cmd),
        Command::Chat(cmd) => chat::run(*cmd),
        Command::Demo(args) => reco::demo(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
