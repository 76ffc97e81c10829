//! SASRec's learning curve on a leave-one-out validation split: fits on every user's sequence without
//! its last two items and prints, per epoch, one JSON line `{"epoch", "loss", "seconds", "valid_hr@10"}`
//! (HR@10 of the second-to-last item, full ranking, the user's training items excluded), then the
//! epoch with the best HR@10. This is how SASRec's epochs were chosen (`--split valid` only).
//!
//! usage: sasrec_curve --data ../shared/datasets/amazon-beauty/Beauty.txt [--epochs 40] [--param k=v …]

use reco_core::data::split::{leave_one_out, sequences_of};
use reco_core::model::AnyParams;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut data, mut epochs, mut params) = (None, 40usize, Vec::new());
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = Some(value()),
            "--epochs" => epochs = value().parse().expect("--epochs N"),
            "--param" => params.push(value()),
            o => panic!("unknown argument {o}"),
        }
    }
    let path = data.expect("--data PATH (an S3-Rec file)");
    let data = reco_core::io::load_s3rec(std::path::Path::new(&path)).expect("load");
    let loo = leave_one_out(&data).expect("split");
    let seqs = sequences_of(&loo.valid_train, data.n_users(), data.n_items());
    // --epochs first, then the --params (through the same text parser as the CLI's --param)
    let mut pairs = vec![("epochs".to_string(), epochs.to_string()), ("patience".to_string(), epochs.to_string())];
    for kv in &params {
        let (k, v) = kv.split_once('=').expect("--param key=value");
        pairs.push((k.to_string(), v.to_string()));
    }
    let p = match AnyParams::with_params("sasrec", &pairs) {
        Ok(AnyParams::SasRec(p)) => p,
        Ok(_) => unreachable!("sasrec parameters"),
        Err(e) => panic!("--param key=value: {e}"),
    };
    let model = p.fit_with(&seqs, data.n_items(), Some(&loo.valid), &|_, _| true).expect("fit");
    for &(epoch, loss, seconds, hr) in &model.curve().epochs {
        let hr = hr.unwrap_or(f32::NAN);
        println!("{{\"epoch\": {epoch}, \"loss\": {loss:.4}, \"seconds\": {seconds:.2}, \"valid_hr@10\": {hr:.4}}}");
    }
    println!("{{\"best_epoch\": {}}}", model.curve().best_epoch);
}
