//! Train on the shipped Online Retail data, measure it, and recommend — top to bottom.
//!
//! `cargo run --release -p reco-core --example quickstart [CUSTOMER_ID]`

use reco_core::data::{interaction_matrix, split::leave_one_out};
use reco_core::eval::{evaluate, Protocol};
use reco_core::io::load_online_retail;
use reco_core::model::{Als, Recommender};
use std::path::Path;

fn main() -> Result<(), reco_core::RecoError> {
    // 1. Load: cancellations, adjustments and guest purchases are dropped (and counted).
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/online-retail/online_retail.csv.gz");
    let (data, stats) = load_online_retail(&path)?;
    println!("{} customers, {} products, {} purchases ({stats:?})", data.n_users(), data.n_items(), stats.kept);

    // 2. Hold out each customer's last new product and train on the rest.
    let split = leave_one_out(&data)?;
    let train = interaction_matrix(&split.train, data.n_users(), data.n_items());
    let model = Als::params().factors(64).iterations(15).fit(&train)?;

    // 3. How often is the held-out product in the top 10 (against every product)?
    let report = evaluate(&model, &train, &data.matrix(), &split.test, Protocol::LooFull, 10, 42)?;
    println!(
        "HR@10 {:.4}  NDCG@10 {:.4}  over {} customers",
        report.metrics.hr, report.metrics.ndcg, report.users_evaluated
    );

    // 4. Recommend for one customer, leaving out what they already bought.
    let customer = std::env::args().nth(1).unwrap_or_else(|| "12347".to_string());
    let u = data.users().get(&customer).ok_or_else(|| reco_core::RecoError::UnknownUser(customer.clone()))?;
    for (item, score) in model.recommend(u, 10, Some(&train))? {
        let text = data.item_meta()[item as usize].text.as_deref().unwrap_or("");
        println!("{:<10} {text:<40} {score:.3}", data.items().id(item));
    }
    Ok(())
}
