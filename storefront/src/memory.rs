//! [`MemoryStore`]: the demo store, in memory, built from Online Retail's invoices.

use crate::{Catalog, Order, OrderStatus, Orders, Policies, PriceFilter, Product, Recommendations, Result, StoreError};
use shopml_text::online_retail;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::RwLock;

/// An in-memory store: products, orders per customer, popularity, fixed policies.
#[derive(Debug)]
pub struct MemoryStore {
    products: Vec<Product>,
    by_id: HashMap<String, usize>,
    /// Customer → orders, newest first.
    orders: RwLock<HashMap<String, Vec<Order>>>,
    /// Product indices, best-selling first.
    popular: Vec<usize>,
    /// Search key → the products whose name has it (once per occurrence).
    postings: HashMap<String, Vec<u32>>,
    /// Each product's rank in `popular` (computed once, not per query).
    rank: Vec<usize>,
}

/// A product name's or query's words as search keys (the chatbot matches products the same way).
fn words(s: &str) -> Vec<String> {
    shopml_text::words(&shopml_text::normalize(s)).map(shopml_text::search_key).collect()
}

impl MemoryStore {
    /// A store from products and `(customer, order)` pairs.
    pub fn new(products: Vec<Product>, orders: Vec<(String, Order)>, sales: &HashMap<String, f64>) -> Self {
        let by_id = products.iter().enumerate().map(|(i, p)| (p.id.clone(), i)).collect();
        let mut by_customer: HashMap<String, Vec<Order>> = HashMap::new();
        for (c, o) in orders {
            by_customer.entry(c).or_default().push(o);
        }
        by_customer.values_mut().for_each(|os| os.sort_by(|a, b| b.placed.cmp(&a.placed).then(b.id.cmp(&a.id))));
        let mut popular: Vec<usize> = (0..products.len()).collect();
        let sold = |i: usize| sales.get(&products[i].id).copied().unwrap_or(0.0);
        popular.sort_by(|&a, &b| sold(b).total_cmp(&sold(a)).then(a.cmp(&b)));
        let mut postings: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, p) in products.iter().enumerate() {
            words(&p.name).into_iter().for_each(|w| postings.entry(w).or_default().push(i as u32));
        }
        let mut rank = vec![0; products.len()];
        popular.iter().enumerate().for_each(|(r, &i)| rank[i] = r);
        MemoryStore { products, by_id, orders: RwLock::new(by_customer), popular, postings, rank }
    }

    /// The demo store from an Online Retail CSV (`.gz` fine): every stock code a product (its latest
    /// name and price, category = the name's last word, stock 10 + a seeded amount), every invoice of a
    /// customer an order. Each customer's newest order is *Paid* (so it can be cancelled in a demo),
    /// the one before *Shipped*, older ones *Delivered*; cancelled invoices (`C…`) are skipped.
    pub fn from_online_retail(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let bad = |e: online_retail::Error| {
            let at = match &e {
                online_retail::Error::Line { line, reason } => format!("{}:{line}: {reason}", path.display()),
                e => format!("{}: {e}", path.display()),
            };
            std::io::Error::new(std::io::ErrorKind::InvalidData, at)
        };
        let rows = online_retail::Reader::new(reader).map_err(bad)?;
        let mut products: HashMap<String, Product> = HashMap::new();
        let mut sales: HashMap<String, f64> = HashMap::new();
        let mut invoices: HashMap<String, (String, Order)> = HashMap::new();
        for row in rows {
            // An unreadable number is an error naming its line (the reader is reco-core's too).
            let online_retail::Row::Line(r) = row.map_err(bad)? else { continue };
            let (q, p) = (r.quantity as i64, r.unit_price);
            if q <= 0 || p <= 0.0 || r.description.is_empty() {
                continue;
            }
            let id = r.stock_code;
            let category = r.description.split_whitespace().last().map(str::to_string);
            let stock = crate::shipped::demo_stock(&id);
            let name = r.description;
            products.insert(id.clone(), Product { id: id.clone(), name, price: p, category, stock });
            *sales.entry(id.clone()).or_default() += q as f64;
            let Some(customer) = r.customer else { continue };
            let entry = invoices.entry(r.invoice.clone()).or_insert_with(|| {
                let o = Order {
                    id: r.invoice,
                    status: OrderStatus::Delivered,
                    lines: Vec::new(),
                    total: 0.0,
                    placed: r.invoice_date,
                    ship_to: r.country.unwrap_or_default(),
                };
                (customer, o)
            });
            entry.1.lines.push((id, q as u32));
            entry.1.total += q as f64 * p;
        }
        let mut products: Vec<Product> = products.into_values().collect();
        products.sort_by(|a, b| a.id.cmp(&b.id));
        let store = MemoryStore::new(products, invoices.into_values().collect(), &sales);
        for orders in store.orders.write().expect("fresh lock").values_mut() {
            for (i, o) in orders.iter_mut().enumerate() {
                o.status = match i {
                    0 => OrderStatus::Paid,
                    1 => OrderStatus::Shipped,
                    _ => OrderStatus::Delivered,
                };
                o.total = (o.total * 100.0).round() / 100.0;
            }
        }
        Ok(store)
    }

    /// Number of products.
    pub fn len(&self) -> usize {
        self.products.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    fn lock_err<T>(_: T) -> StoreError {
        StoreError::Unavailable("order table lock poisoned".into())
    }
}

impl Catalog for MemoryStore {
    fn search(&self, query: &str, price: PriceFilter, limit: usize) -> Result<Vec<Product>> {
        let mut q: Vec<String> = words(query).into_iter().filter(|w| w.len() > 1).collect();
        q.sort_unstable();
        q.dedup();
        let ok = |p: &Product| price.min.is_none_or(|m| p.price >= m) && price.max.is_none_or(|m| p.price <= m);
        // (product, how many of its name's words the query has)
        let mut hits: Vec<(usize, usize)> = if q.is_empty() {
            (0..self.products.len()).map(|i| (i, 0)).collect()
        } else {
            let mut counts: HashMap<u32, usize> = HashMap::new();
            for w in &q {
                for &i in self.postings.get(w).map_or(&[][..], Vec::as_slice) {
                    *counts.entry(i).or_default() += 1;
                }
            }
            counts.into_iter().map(|(i, n)| (i as usize, n)).collect()
        };
        hits.retain(|&(i, _)| ok(&self.products[i]));
        hits.sort_by(|a, b| b.1.cmp(&a.1).then(self.rank[a.0].cmp(&self.rank[b.0])));
        Ok(hits.into_iter().take(limit).map(|(i, _)| self.products[i].clone()).collect())
    }

    fn product(&self, id: &str) -> Result<Option<Product>> {
        Ok(self.by_id.get(id).map(|&i| self.products[i].clone()))
    }

    fn names(&self) -> Result<Vec<(String, String)>> {
        Ok(self.products.iter().map(|p| (p.id.clone(), p.name.clone())).collect())
    }

    fn categories(&self) -> Result<Vec<String>> {
        let mut c: Vec<String> = self.products.iter().filter_map(|p| p.category.clone()).collect();
        c.sort();
        c.dedup();
        Ok(c)
    }
}

impl Orders for MemoryStore {
    fn order(&self, customer: &str, id: &str) -> Result<Order> {
        let orders = self.orders.read().map_err(Self::lock_err)?;
        let id = id.trim_start_matches('#');
        orders
            .get(customer)
            .and_then(|os| os.iter().find(|o| o.id.eq_ignore_ascii_case(id)))
            .cloned()
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    fn orders(&self, customer: &str) -> Result<Vec<Order>> {
        Ok(self.orders.read().map_err(Self::lock_err)?.get(customer).cloned().unwrap_or_default())
    }

    fn cancel(&self, customer: &str, id: &str) -> Result<Order> {
        self.before_shipping(customer, id, "be cancelled", |o| o.status = OrderStatus::Cancelled)
    }

    fn change_address(&self, customer: &str, id: &str, address: &str) -> Result<Order> {
        let address = address.trim();
        if address.is_empty() || address.chars().count() > 300 {
            return Err(StoreError::Invalid("an address must have 1 to 300 characters".into()));
        }
        self.before_shipping(customer, id, "change address", |o| o.ship_to = address.to_string())
    }
}

impl MemoryStore {
    /// Applies `change` to `customer`'s order `id` if it has not shipped.
    fn before_shipping(&self, customer: &str, id: &str, what: &str, change: impl FnOnce(&mut Order)) -> Result<Order> {
        let mut orders = self.orders.write().map_err(Self::lock_err)?;
        let id = id.trim_start_matches('#');
        let o = orders
            .get_mut(customer)
            .and_then(|os| os.iter_mut().find(|o| o.id.eq_ignore_ascii_case(id)))
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        match o.status {
            s if s.before_shipping() => {
                change(o);
                Ok(o.clone())
            }
            status => Err(StoreError::NotAllowed {
                order: o.id.clone(),
                status,
                reason: format!("only orders that have not shipped can {what}"),
            }),
        }
    }
}

impl Recommendations for MemoryStore {
    /// Best sellers the customer has not bought, in stock.
    fn recommend(&self, customer: Option<&str>, k: usize) -> Result<Vec<Product>> {
        let bought: std::collections::HashSet<String> = match customer {
            Some(c) => self.orders(c)?.into_iter().flat_map(|o| o.lines.into_iter().map(|l| l.0)).collect(),
            None => Default::default(),
        };
        Ok(self
            .popular
            .iter()
            .map(|&i| &self.products[i])
            .filter(|p| p.stock > 0 && !bought.contains(&p.id))
            .take(k)
            .cloned()
            .collect())
    }
}

impl Policies for MemoryStore {
    fn policy(&self, topic: &str) -> Option<String> {
        crate::default_policy(topic).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> MemoryStore {
        let p = |id: &str, name: &str, price: f64| Product {
            id: id.into(),
            name: name.into(),
            price,
            category: None,
            stock: 5,
        };
        let o = |id: &str, status, placed: &str| Order {
            id: id.into(),
            status,
            lines: vec![("1".into(), 1)],
            total: 3.0,
            placed: placed.into(),
            ship_to: "UK".into(),
        };
        let sales = HashMap::from([("2".to_string(), 10.0), ("1".to_string(), 5.0)]);
        MemoryStore::new(
            vec![p("1", "WHITE MUG", 3.0), p("2", "RED TEAPOT", 12.0), p("3", "WHITE TEAPOT", 25.0)],
            vec![
                ("ann".into(), o("100", OrderStatus::Paid, "2011-01-02")),
                ("ann".into(), o("90", OrderStatus::Shipped, "2011-01-01")),
                ("bob".into(), o("200", OrderStatus::Paid, "2011-01-03")),
            ],
            &sales,
        )
    }

    #[test]
    fn search_filters_by_price_and_ranks_by_words_then_sales() {
        let s = store();
        let r = s.search("white teapot", PriceFilter::default(), 10).unwrap();
        assert_eq!(r.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["3", "2", "1"]);
        let r = s.search("teapots", PriceFilter { min: None, max: Some(20.0) }, 10).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].id, "2");
    }

    #[test]
    fn orders_belong_to_their_customer_and_cancel_only_before_shipping() {
        let s = store();
        assert_eq!(s.order("ann", "#100").unwrap().status, OrderStatus::Paid);
        assert_eq!(s.order("bob", "100"), Err(StoreError::NotFound("100".into())));
        assert!(matches!(s.cancel("ann", "90"), Err(StoreError::NotAllowed { .. })));
        assert_eq!(s.cancel("bob", "100"), Err(StoreError::NotFound("100".into())));
        assert_eq!(s.change_address("ann", "100", " 1 Main St, Leeds ").unwrap().ship_to, "1 Main St, Leeds");
        assert!(matches!(s.change_address("ann", "90", "x"), Err(StoreError::NotAllowed { .. })));
        assert!(matches!(s.change_address("ann", "100", "  "), Err(StoreError::Invalid(_))));
        assert_eq!(s.cancel("ann", "100").unwrap().status, OrderStatus::Cancelled);
        assert_eq!(s.orders("ann").unwrap()[0].id, "100");
        let recs = s.recommend(Some("ann"), 5).unwrap();
        assert!(recs.iter().all(|p| p.id != "1"));
        assert_eq!(recs[0].id, "2");
    }

    #[test]
    fn demo_store_from_the_shipped_online_retail_data() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/online-retail/online_retail.csv.gz");
        let s = MemoryStore::from_online_retail(&path).unwrap();
        assert!(s.len() > 3000, "{}", s.len());
        let os = s.orders("17850").unwrap();
        assert_eq!(os[0].status, OrderStatus::Paid);
        assert!(os.iter().skip(2).all(|o| o.status == OrderStatus::Delivered));
        assert!(s.product("85123A").unwrap().unwrap().name.contains("HEART"));
    }

    #[test]
    fn an_unreadable_price_is_an_error_naming_its_line() {
        let dir = std::env::temp_dir().join(format!("storefront-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("retail.csv");
        std::fs::write(
            &path,
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID\n\
             1,100,RED MUG,2,2011-01-01 10:00,1.5,17850\n\
             2,101,BLUE MUG,1,2011-01-02 10:00,\"1,50\",17850\n",
        )
        .unwrap();
        let Err(err) = MemoryStore::from_online_retail(&path) else { panic!("a bad price must be an error") };
        let err = err.to_string();
        assert!(err.contains("retail.csv:3") && err.contains("UnitPrice"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
