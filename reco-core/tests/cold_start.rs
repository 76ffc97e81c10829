//! Cold start on the shipped Online Retail data: products never seen in training can only be ranked by
//! their content. Popularity cannot rank them at all.

use reco_core::data::KindWeights;
use reco_core::eval::run_cold_start;
use reco_core::io::load_online_retail;
use reco_core::model::AnyParams;
use std::path::Path;

#[test]
fn content_ranks_products_popularity_cannot() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/online-retail/online_retail.csv.gz");
    let (data, _) = load_online_retail(&path).unwrap();
    let run = |name: &str| {
        run_cold_start(&data, &KindWeights::EQUAL, &AnyParams::new(name).unwrap(), 0.1, 10, 42, &|_, _| true).unwrap()
    };
    let pop = run("pop");
    let content = run("content");
    assert!(pop.report.users_evaluated > 1000, "{}", pop.report.users_evaluated);
    assert_eq!(pop.report.users_evaluated, content.report.users_evaluated);
    assert!(pop.report.metrics.hr < 0.01, "popularity cannot know unseen products: {:?}", pop.report.metrics);
    assert!(content.report.metrics.hr > 0.05, "content HR@10 {:?}", content.report.metrics);
}
