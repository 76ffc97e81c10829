//! Loaders and bad input: every malformed file is a typed error naming the file and line.

use reco_core::data::{split::leave_one_out, Dataset, EventKind, KindWeights};
use reco_core::eval::{run_loo, Protocol, Target};
use reco_core::io::{load, load_movielens, load_online_retail, load_s3rec, Columns, Format};
use reco_core::model::{AnyParams, Recommender};
use reco_core::RecoError;
use std::io::Write;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

const RETAIL_HEADER: &str = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";

#[test]
fn empty_files_are_empty_data_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "Empty.txt", b"");
    assert!(matches!(load_s3rec(&empty), Err(RecoError::EmptyData(_))));
    let empty = write(dir.path(), "u.data", b"\n\n");
    assert!(matches!(load_movielens(&empty), Err(RecoError::EmptyData(_))));
    let only_header = write(dir.path(), "retail.csv", RETAIL_HEADER.as_bytes());
    assert!(matches!(load_online_retail(&only_header), Err(RecoError::EmptyData(_))));
}

#[test]
fn missing_file_is_an_io_error_with_the_path() {
    let e = load_s3rec(Path::new("/nonexistent/Beauty.txt")).unwrap_err();
    assert!(matches!(e, RecoError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/Beauty.txt"));
}

#[test]
fn unknown_format_is_typed() {
    assert!(matches!("xlsx".parse::<Format>(), Err(RecoError::UnsupportedFormat(_))));
}

#[test]
fn non_utf8_bytes_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "Bad.txt", b"1 2 3\n2 4 \xff\xfe 5\n");
    match load_s3rec(&p) {
        Err(RecoError::Parse { line, reason, .. }) => {
            assert_eq!(line, 2);
            assert!(reason.contains("UTF-8"), "{reason}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    let mut bytes = format!("{RETAIL_HEADER}1,22,CUP \u{e9},1,2011-01-01 10:00,1.0,5,UK\n2,23,").into_bytes();
    bytes.extend_from_slice(b"\xff,1,2011-01-01 10:00,1.0,5,UK\n");
    let p = write(dir.path(), "retail.csv", &bytes);
    let e = load_online_retail(&p).unwrap_err();
    assert!(matches!(e, RecoError::Parse { line: 3, .. }), "{e}");
}

#[test]
fn movielens_rules() {
    let dir = tempfile::tempdir().unwrap();
    // a trailing tab is tolerated; the rating is not used as a weight but must be a number
    let p = write(dir.path(), "u.data", b"1\t10\t5\t100\n1\t11\t3\t101\t\n2\t10\t1\t99\n");
    write(dir.path(), "u.item", b"10|Toy Story (1995)|01-Jan-1995||url|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n");
    let d = load_movielens(&p).unwrap();
    assert_eq!((d.n_users(), d.n_items(), d.interactions().len()), (2, 2, 3));
    assert!(d.interactions().iter().all(|i| i.weight == 1.0));
    let toy = d.items().get("10").unwrap() as usize;
    assert_eq!(d.item_meta()[toy].text.as_deref(), Some("Toy Story (1995)"));
    assert_eq!(d.item_meta()[toy].attributes, vec![3, 4, 5]);
    assert_eq!(d.item_meta()[toy].category.as_deref(), Some("Animation"));
    let bad = write(dir.path(), "bad.data", b"1\t10\tfive\t100\n");
    assert!(matches!(load_movielens(&bad), Err(RecoError::Parse { line: 1, .. })));
    let short = write(dir.path(), "short.data", b"1\t10\t5\n");
    assert!(matches!(load_movielens(&short), Err(RecoError::Parse { line: 1, .. })));
}

#[test]
fn s3rec_reads_attributes_beside_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "Shop.txt", b"1 7 8 9\n2 8 9\n\n");
    write(dir.path(), "Shop_item2attributes.json", br#"{"7": [1, 2], "9": [3], "404": [5]}"#);
    let d = load_s3rec(&p).unwrap();
    assert_eq!((d.n_users(), d.n_items(), d.interactions().len()), (2, 3, 5));
    assert_eq!(d.item_meta()[d.items().get("7").unwrap() as usize].attributes, vec![1, 2]);
    // positions are the order key
    assert_eq!(d.interactions().iter().map(|i| i.timestamp).collect::<Vec<_>>(), vec![0, 1, 2, 0, 1]);
    write(dir.path(), "Shop_item2attributes.json", b"{not json");
    assert!(matches!(load_s3rec(&p), Err(RecoError::Parse { .. })));
}

#[test]
fn online_retail_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rows = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n\
                C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,2010-12-01 09:41:00,2.55,17850.0,United Kingdom\n\
                536380,POST,POSTAGE,1,2010-12-01 09:41:00,18.0,17850.0,United Kingdom\n\
                536381,71053,WHITE METAL LANTERN,-3,2010-12-01 09:41:00,0,,United Kingdom\n\
                536382,71053,WHITE METAL LANTERN,2,2010-12-01 09:45:00,3.39,,United Kingdom\n\
                536383,71053,WHITE METAL LANTERN,4,12/2/2010 10:00,3.50,13047,United Kingdom\n";
    let p = write(dir.path(), "online_retail.csv", format!("{RETAIL_HEADER}{rows}").as_bytes());
    let (d, stats) = load_online_retail(&p).unwrap();
    assert_eq!(
        (stats.rows, stats.kept, stats.cancellations, stats.non_product, stats.non_positive_quantity, stats.guest_rows),
        (6, 2, 1, 1, 1, 1)
    );
    assert_eq!(d.users().ids(), &["17850".to_string(), "13047".to_string()]);
    let lantern = d.items().get("71053").unwrap() as usize;
    assert_eq!(d.item_meta()[lantern].price, Some(3.5));
    assert_eq!(d.item_meta()[lantern].category.as_deref(), Some("LANTERN"));
    assert_eq!(d.interactions()[1].weight, 4.0);
    // a gzip copy reads the same
    let gz = dir.path().join("online_retail.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(format!("{RETAIL_HEADER}{rows}").as_bytes()).unwrap();
    enc.finish().unwrap();
    assert_eq!(load_online_retail(&gz).unwrap().1, stats);
    // a missing column is named, with the columns that exist
    let p = write(
        dir.path(),
        "no_customer.csv",
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice\n1,2,x,1,2011-01-01,1\n",
    );
    match load_online_retail(&p) {
        Err(e @ RecoError::MissingColumn { .. }) => {
            assert!(e.to_string().contains("CustomerID") && e.to_string().contains("UnitPrice"))
        }
        other => panic!("{other:?}"),
    }
    // NaN quantity and bad dates are errors with the line
    let p = write(dir.path(), "nan.csv", format!("{RETAIL_HEADER}1,22,CUP,NaN,2011-01-01 10:00,1.0,5,UK\n").as_bytes());
    assert!(matches!(load_online_retail(&p), Err(RecoError::Parse { line: 2, .. })));
    let p = write(dir.path(), "date.csv", format!("{RETAIL_HEADER}1,22,CUP,1,soon,1.0,5,UK\n").as_bytes());
    assert!(matches!(load_online_retail(&p), Err(RecoError::Parse { line: 2, .. })));
}

#[test]
fn weights_must_be_finite_and_positive() {
    let mut d = Dataset::new("w");
    for w in [f32::NAN, f32::INFINITY, 0.0, -1.0] {
        assert!(matches!(d.push("u", "i", 0, EventKind::View, w), Err(RecoError::InvalidParameter { .. })), "{w}");
    }
    // empty ids would collide with the padding of string-id batches in the bindings
    for (u, i) in [("", "i"), ("u", ""), ("  ", "i")] {
        let e = d.push(u, i, 0, EventKind::View, 1.0).unwrap_err().to_string();
        assert!(e.contains("must not be empty"), "{e}");
    }
    assert!(d.interactions().is_empty() && d.n_users() == 0 && d.n_items() == 0);
}

#[test]
fn duplicates_single_interaction_users_and_k_zero() {
    let mut d = Dataset::new("t");
    // duplicate rows: summed in the matrix, one item in the sequence
    for (u, i, t) in
        [("a", "x", 1), ("a", "x", 1), ("a", "y", 2), ("a", "z", 3), ("b", "x", 1), ("c", "y", 1), ("c", "z", 2)]
    {
        d.push(u, i, t, EventKind::Purchase, 1.0).unwrap();
    }
    let m = d.matrix();
    assert_eq!(m.user_row(0), (&[0usize, 1, 2][..], &[2.0f32, 1.0, 1.0][..]));
    let split = leave_one_out(&d).unwrap();
    // b has one item: trained on, never evaluated
    assert_eq!(split.test.iter().map(|&(u, _)| u).collect::<Vec<_>>(), vec![0, 2]);
    let pop = AnyParams::new("pop").unwrap();
    let run = run_loo(&d, &KindWeights::EQUAL, &pop, Protocol::LooFull, 1, 0, Target::Test, &|_, _| true).unwrap();
    assert_eq!(run.report.users_evaluated, 2);
    assert!(matches!(
        run_loo(&d, &KindWeights::EQUAL, &pop, Protocol::LooFull, 0, 0, Target::Test, &|_, _| true),
        Err(RecoError::InvalidParameter { .. })
    ));
    let model = pop.fit(&reco_core::model::FitInput::new(&m, d.item_meta()), &|_, _| true).unwrap();
    assert!(matches!(model.recommend(0, 0, None), Err(RecoError::InvalidParameter { .. })));
    assert!(matches!(model.recommend(99, 3, None), Err(RecoError::UnknownUser(_))));
}

#[cfg(not(feature = "polars"))]
#[test]
fn tables_need_the_polars_feature() {
    let e = load(Path::new("x.csv"), Format::Table, &Columns::default()).unwrap_err();
    assert!(matches!(e, RecoError::UnsupportedFormat(_)));
}

#[cfg(feature = "polars")]
mod tables {
    use super::*;

    #[test]
    fn csv_with_mapped_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "events.csv", b"customer,sku,when,qty,what\nu1,10,2024-01-02,2,purchase\nu1,11,2024-01-01,1,view\nu2,10,2024-01-03,1.5,add_to_cart\n");
        let cols = Columns {
            user: "customer".into(),
            item: "sku".into(),
            time: Some("when".into()),
            weight: Some("qty".into()),
            kind: Some("what".into()),
        };
        let d = load(&p, Format::Table, &cols).unwrap();
        assert_eq!((d.n_users(), d.n_items(), d.interactions().len()), (2, 2, 3));
        assert_eq!(d.interactions()[1].kind, EventKind::View);
        assert_eq!(d.interactions()[2].weight, 1.5);
        assert!(d.interactions()[0].timestamp > d.interactions()[1].timestamp);
        // missing column: named, with what exists
        let bad = Columns { user: "user_id".into(), ..cols.clone() };
        let e = load(&p, Format::Table, &bad).unwrap_err();
        assert!(matches!(e, RecoError::MissingColumn { .. }) && e.to_string().contains("customer"), "{e}");
        // NaN weight and unknown event kinds are row errors
        let p = write(dir.path(), "nan.csv", b"customer,sku,when,qty,what\nu1,10,2024-01-02,NaN,purchase\n");
        assert!(matches!(load(&p, Format::Table, &cols), Err(RecoError::Parse { line: 1, .. })));
        let p = write(dir.path(), "kind.csv", b"customer,sku,when,qty,what\nu1,10,2024-01-02,1,wishlist\n");
        assert!(matches!(load(&p, Format::Table, &cols), Err(RecoError::Parse { line: 1, .. })));
        // empty file, header only, unknown extension
        let p = write(dir.path(), "empty.csv", b"");
        assert!(matches!(load(&p, Format::Table, &cols), Err(RecoError::EmptyData(_))));
        let p = write(dir.path(), "header.csv", b"customer,sku\n");
        assert!(matches!(
            load(&p, Format::Table, &Columns { user: "customer".into(), item: "sku".into(), ..Default::default() }),
            Err(RecoError::EmptyData(_))
        ));
        let p = write(dir.path(), "events.xlsx", b"PK");
        assert!(matches!(load(&p, Format::Table, &cols), Err(RecoError::UnsupportedFormat(_))));
    }

    #[test]
    fn parquet_round_trip() {
        use polars::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.parquet");
        let mut df = df!("user" => [1i64, 1, 2], "item" => ["a", "b", "a"], "ts" => [10i64, 20, 5]).unwrap();
        ParquetWriter::new(std::fs::File::create(&p).unwrap()).finish(&mut df).unwrap();
        let cols = Columns { time: Some("ts".into()), ..Default::default() };
        let d = load(&p, Format::Table, &cols).unwrap();
        assert_eq!((d.n_users(), d.n_items()), (2, 2));
        assert_eq!(d.users().ids(), &["1".to_string(), "2".to_string()]);
        assert_eq!(d.interactions()[2].timestamp, 5);
    }
}

#[test]
fn from_csr_rows_are_users_and_columns_items() {
    // 3 users × 4 items; user 1 has no entries; item 2 none
    let d = Dataset::from_csr("m", &[0, 2, 2, 4], &[0, 3, 3, 1], &[1.0, 2.0, 1.0, 5.0]).unwrap();
    assert_eq!(d.users().ids(), ["0", "2"]);
    assert_eq!(d.items().ids(), ["0", "3", "1"]);
    assert_eq!(d.interactions().len(), 4);
    let last = d.interactions()[3];
    assert_eq!((d.users().id(last.user), d.items().id(last.item), last.weight), ("2", "1", 5.0));
    // a huge, sparse column number costs one map entry, not a table of that size
    let d = Dataset::from_csr("m", &[0, 1], &[4_000_000_000], &[1.0]).unwrap();
    assert_eq!(d.items().ids(), ["4000000000"]);
    for (indptr, indices, weights) in [
        (&[0, 2, 1][..], &[0, 1][..], &[1.0, 1.0][..]),
        (&[1, 2][..], &[0, 1][..], &[1.0, 1.0][..]),
        (&[0, 2][..], &[0, 1][..], &[1.0][..]),
        (&[0, 2][..], &[0, 1][..], &[1.0, f32::NAN][..]),
        (&[][..], &[0, 1][..], &[1.0, 1.0][..]),
    ] {
        assert!(matches!(Dataset::from_csr("m", indptr, indices, weights), Err(RecoError::InvalidParameter { .. })));
    }
}
