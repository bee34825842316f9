//! The bundled demo database (a small online shop, generated from a seed) and its hand-written
//! questions.
//!
//! [`create_demo_database`] writes a new SQLite file with 12 tables (countries, cities,
//! customers, categories, suppliers, products, employees, orders, order_items, payments,
//! shipments, reviews), foreign keys declared and honoured, and about six thousand rows spread
//! over 2019-01-01 … 2025-06-30. The content is a pure function of the seed: the generator draws
//! from a [`ChaCha8Rng`] and uses no floating-point function whose result could differ between
//! platforms, so the same seed gives the same rows everywhere. The data is shaped to make
//! questions interesting: sales grow over the years and peak in November and December, a few
//! customers buy a lot and some never buy, some products are never ordered, some shipments
//! arrive late (more often with some carriers), ratings differ by product, prices paid drift
//! below today's list prices, and two cities are called London and two Portland.
//!
//! This is the only code in the crate that writes a database, and it only ever creates a new
//! file: it refuses a path that exists, writes into a temporary file in the same directory and
//! moves it into place without clobbering anything that appeared meanwhile.
//!
//! [`demo_questions`] returns the questions of `tools/data/demo_questions.json` (compiled in), in
//! the interactive-task format of DESIGN.md, some deliberately ambiguous.

use std::collections::HashSet;
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::types::Value as SqlValue;
use serde::{Deserialize, Serialize};

use crate::error::{ToolsError, ToolsResult};

/// The seed of the default demo database (`learnat demo`, `learnat demo-db` without `--seed`).
/// The bundled questions are checked against the database this seed produces; other seeds give
/// the same schema and similar data, but individual answers differ.
pub const DEMO_SEED: u64 = 20_190_101;

/// The `db_id` of the demo database in the question set.
pub const DEMO_DB_ID: &str = "shop";

/// What [`create_demo_database`] wrote: the tables and their row counts, in creation order.
///
/// Displays as `a shop: 12 tables, 6,075 rows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DemoSummary {
    /// `(table name, rows)` in creation order.
    pub tables: Vec<(String, u64)>,
}

impl DemoSummary {
    /// Number of tables.
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    /// Rows over all tables.
    pub fn row_count(&self) -> u64 {
        self.tables.iter().map(|(_, rows)| rows).sum()
    }

    /// Rows of one table, if the demo database has it.
    pub fn rows_of(&self, table: &str) -> Option<u64> {
        self.tables
            .iter()
            .find(|(name, _)| name == table)
            .map(|(_, rows)| *rows)
    }
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a shop: {} tables, {} rows",
            self.table_count(),
            with_thousands_separators(self.row_count())
        )
    }
}

/// `6075` → `6,075`.
fn with_thousands_separators(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Create the demo shop database at `path`, deterministically from `seed`.
///
/// Refuses (with an error saying the file "already exists") when anything exists at `path`:
/// an existing file is never touched. The parent directory must exist.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("shop.sqlite");
/// let summary = learnat_tools::demo::create_demo_database(&path, learnat_tools::demo::DEMO_SEED)?;
/// assert!(summary.to_string().starts_with("a shop: 12 tables"));
/// assert!(learnat_tools::demo::create_demo_database(&path, 1).is_err());
/// # Ok::<(), learnat_tools::ToolsError>(())
/// ```
pub fn create_demo_database(path: impl AsRef<Path>, seed: u64) -> ToolsResult<DemoSummary> {
    let path = path.as_ref();
    const WHAT: &str = "cannot create the demo database";
    if path.symlink_metadata().is_ok() {
        return Err(already_exists(path));
    }
    let file_name = path.file_name().ok_or_else(|| ToolsError::InvalidInput {
        message: format!(
            "cannot create the demo database at '{}': the path has no file name (pass a path \
             such as shop.sqlite)",
            path.display()
        ),
    })?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !directory.is_dir() {
        return Err(ToolsError::Io {
            what: WHAT,
            path: path.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "directory '{}' does not exist (create it first)",
                    directory.display()
                ),
            ),
        });
    }

    let tables = generate_shop(seed);
    let temp = TemporaryFile::create_beside(&directory, file_name)?;
    write_tables(temp.path(), &tables).map_err(|e| ToolsError::Sql {
        message: format!(
            "writing the demo database into '{}': {e}",
            temp.path().display()
        ),
    })?;
    temp.persist_without_clobbering(path)?;
    Ok(DemoSummary {
        tables: tables
            .iter()
            .map(|t| (t.name.to_string(), t.rows.len() as u64))
            .collect(),
    })
}

fn already_exists(path: &Path) -> ToolsError {
    ToolsError::Io {
        what: "cannot create the demo database",
        path: path.to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the file already exists and is never overwritten (choose another path or delete it)",
        ),
    }
}

/// A file created exclusively next to the destination, removed on drop unless persisted.
struct TemporaryFile {
    path: PathBuf,
    persisted: bool,
}

impl TemporaryFile {
    fn create_beside(directory: &Path, destination_name: &std::ffi::OsStr) -> ToolsResult<Self> {
        // Unique per process and call, so concurrent creations never share a temporary file.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut name = std::ffi::OsString::from(".");
        name.push(destination_name);
        name.push(format!(".{}-{serial}.tmp", std::process::id()));
        let path = directory.join(name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| ToolsError::Io {
                what: "cannot create a temporary file for the demo database",
                path: path.clone(),
                source,
            })?;
        Ok(TemporaryFile {
            path,
            persisted: false,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Move into place; fails if `destination` exists by then. A hard link is atomic and never
    /// replaces its target; on filesystems without hard links, fall back to check-then-rename.
    fn persist_without_clobbering(mut self, destination: &Path) -> ToolsResult<()> {
        match std::fs::hard_link(&self.path, destination) {
            Ok(()) => {
                // The link is in place; the temporary name is removed by Drop.
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(already_exists(destination)),
            Err(_) => {
                if destination.symlink_metadata().is_ok() {
                    return Err(already_exists(destination));
                }
                std::fs::rename(&self.path, destination).map_err(|source| ToolsError::Io {
                    what: "cannot move the demo database into place",
                    path: destination.to_path_buf(),
                    source,
                })?;
                self.persisted = true;
                Ok(())
            }
        }
    }
}

impl Drop for TemporaryFile {
    fn drop(&mut self) {
        if !self.persisted {
            // Best effort: a leftover hidden temporary file is harmless, a panic here is not.
            let _ = std::fs::remove_file(&self.path);
            let mut journal = self.path.clone().into_os_string();
            journal.push("-journal");
            let _ = std::fs::remove_file(PathBuf::from(journal));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generation: pure, in memory, deterministic from the seed.
// ---------------------------------------------------------------------------------------------

/// One generated table: its DDL and rows in column order.
struct TableData {
    name: &'static str,
    ddl: &'static str,
    rows: Vec<Vec<SqlValue>>,
}

/// Write every table in one transaction, with foreign keys enforced so a generator bug cannot
/// produce dangling references.
fn write_tables(path: &Path, tables: &[TableData]) -> rusqlite::Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    let transaction = conn.transaction()?;
    for table in tables {
        transaction.execute_batch(table.ddl)?;
        let Some(first) = table.rows.first() else {
            continue;
        };
        let placeholders = vec!["?"; first.len()].join(", ");
        let mut insert = transaction.prepare(&format!(
            "INSERT INTO {} VALUES ({placeholders})",
            table.name
        ))?;
        for row in &table.rows {
            insert.execute(rusqlite::params_from_iter(row.iter()))?;
        }
    }
    transaction.commit()?;
    conn.close().map_err(|(_, e)| e)
}

/// The first day of the data.
const FIRST_DAY: Day = Day::from_civil(2019, 1, 1);
/// The last day of the data ("today" for statuses such as pending or in transit).
const LAST_DAY: Day = Day::from_civil(2025, 6, 30);

/// A calendar day, as days since 1970-01-01 (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Day(i64);

impl Day {
    /// Howard Hinnant's `days_from_civil`.
    const fn from_civil(year: i64, month: i64, day: i64) -> Day {
        let y = if month <= 2 { year - 1 } else { year };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let year_of_era = y - era * 400;
        let month_from_march = (month + 9) % 12;
        let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        Day(era * 146_097 + day_of_era - 719_468)
    }

    /// Howard Hinnant's `civil_from_days`: (year, month, day).
    fn civil(self) -> (i64, i64, i64) {
        let z = self.0 + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    fn plus(self, days: i64) -> Day {
        Day(self.0 + days)
    }

    fn iso(self) -> String {
        let (year, month, day) = self.civil();
        format!("{year:04}-{month:02}-{day:02}")
    }

    fn sql(self) -> SqlValue {
        SqlValue::Text(self.iso())
    }
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_string())
}

fn int(i: i64) -> SqlValue {
    SqlValue::Integer(i)
}

fn money(cents: i64) -> SqlValue {
    SqlValue::Real(cents as f64 / 100.0)
}

fn optional<T>(value: Option<T>, to_sql: impl Fn(T) -> SqlValue) -> SqlValue {
    value.map(to_sql).unwrap_or(SqlValue::Null)
}

/// Index drawn with probability proportional to `weights`; `None` when all are zero.
fn pick_weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> Option<usize> {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mut target = rng.random::<f64>() * total;
    for (i, weight) in weights.iter().enumerate() {
        if target < *weight {
            return Some(i);
        }
        target -= weight;
    }
    weights.iter().rposition(|w| *w > 0.0)
}

/// A skewed activity weight in about [0.8, 5]: most near 1, a few large (a heavy tail
/// without `ln`/`powf`, whose results may differ between platforms).
fn heavy_tailed_weight(rng: &mut ChaCha8Rng) -> f64 {
    1.0 / (0.2 + rng.random::<f64>())
}

/// Uniform day in `[from, to]`.
fn random_day(rng: &mut ChaCha8Rng, from: Day, to: Day) -> Day {
    Day(rng.random_range(from.0..=to.0))
}

const COUNTRIES: &[(&str, &str, &str)] = &[
    ("United States", "US", "North America"),
    ("Canada", "CA", "North America"),
    ("United Kingdom", "GB", "Europe"),
    ("France", "FR", "Europe"),
    ("Germany", "DE", "Europe"),
    ("Spain", "ES", "Europe"),
    ("Italy", "IT", "Europe"),
    ("Netherlands", "NL", "Europe"),
    ("Japan", "JP", "Asia"),
    ("India", "IN", "Asia"),
    ("Australia", "AU", "Oceania"),
    ("Brazil", "BR", "South America"),
    ("Mexico", "MX", "North America"),
];

/// (name, region, country id, relative share of customers).
const CITIES: &[(&str, &str, i64, f64)] = &[
    ("New York", "New York", 1, 10.0),
    ("Chicago", "Illinois", 1, 6.0),
    ("Austin", "Texas", 1, 4.0),
    ("Seattle", "Washington", 1, 4.0),
    ("Portland", "Oregon", 1, 3.0),
    ("Portland", "Maine", 1, 1.0),
    ("Boston", "Massachusetts", 1, 3.0),
    ("Toronto", "Ontario", 2, 5.0),
    ("London", "Ontario", 2, 2.0),
    ("Vancouver", "British Columbia", 2, 3.0),
    ("Montreal", "Quebec", 2, 3.0),
    ("London", "England", 3, 9.0),
    ("Manchester", "England", 3, 3.0),
    ("Edinburgh", "Scotland", 3, 2.0),
    ("Paris", "Île-de-France", 4, 5.0),
    ("Lyon", "Auvergne-Rhône-Alpes", 4, 2.0),
    ("Berlin", "Berlin", 5, 4.0),
    ("Munich", "Bavaria", 5, 3.0),
    ("Hamburg", "Hamburg", 5, 2.0),
    ("Madrid", "Community of Madrid", 6, 3.0),
    ("Barcelona", "Catalonia", 6, 3.0),
    ("Rome", "Lazio", 7, 2.0),
    ("Milan", "Lombardy", 7, 3.0),
    ("Amsterdam", "North Holland", 8, 3.0),
    ("Rotterdam", "South Holland", 8, 1.0),
    ("Tokyo", "Tokyo", 9, 4.0),
    ("Osaka", "Osaka", 9, 2.0),
    ("Mumbai", "Maharashtra", 10, 2.0),
    ("Bengaluru", "Karnataka", 10, 2.0),
    ("Sydney", "New South Wales", 11, 3.0),
    ("Melbourne", "Victoria", 11, 2.0),
    ("São Paulo", "São Paulo", 12, 3.0),
    ("Rio de Janeiro", "Rio de Janeiro", 12, 1.0),
    ("Mexico City", "Mexico City", 13, 3.0),
    ("Guadalajara", "Jalisco", 13, 1.0),
];

/// (name, parent category id). Top-level categories come first; "Accessories" exists twice on
/// purpose (under Electronics and under Clothing).
const CATEGORIES: &[(&str, Option<i64>)] = &[
    ("Electronics", None),
    ("Home & Kitchen", None),
    ("Sports & Outdoors", None),
    ("Clothing", None),
    ("Books", None),
    ("Phones", Some(1)),
    ("Laptops", Some(1)),
    ("Audio", Some(1)),
    ("Accessories", Some(1)),
    ("Cookware", Some(2)),
    ("Coffee & Tea", Some(2)),
    ("Furniture", Some(2)),
    ("Running", Some(3)),
    ("Camping", Some(3)),
    ("Cycling", Some(3)),
    ("Menswear", Some(4)),
    ("Womenswear", Some(4)),
    ("Accessories", Some(4)),
    ("Fiction", Some(5)),
    ("Non-fiction", Some(5)),
];

/// A leaf category's catalogue: brands (empty for books), items, and the list-price range in
/// whole currency units.
struct Catalogue {
    category_id: i64,
    brands: &'static [&'static str],
    items: &'static [&'static str],
    price_range: (i64, i64),
}

const CATALOGUES: &[Catalogue] = &[
    Catalogue {
        category_id: 6,
        brands: &["Nimbus", "Vertex", "Orion"],
        items: &[
            "X1 Smartphone",
            "X2 Pro Smartphone",
            "Lite Smartphone",
            "Fold Smartphone",
            "Mini Smartphone",
            "Max Smartphone",
            "Rugged Phone",
            "Classic Flip Phone",
        ],
        price_range: (79, 1299),
    },
    Catalogue {
        category_id: 7,
        brands: &["Nimbus", "Kestrel", "Orion"],
        items: &[
            "Air 13 Laptop",
            "Pro 14 Laptop",
            "Pro 16 Laptop",
            "Chromebook 11",
            "Gaming Laptop 15",
            "Ultrabook 14",
            "2-in-1 Convertible",
            "Workstation 17",
        ],
        price_range: (299, 2799),
    },
    Catalogue {
        category_id: 8,
        brands: &["Sonora", "Pulse", "Echo Labs"],
        items: &[
            "Wireless Earbuds",
            "Noise-Cancelling Headphones",
            "Bluetooth Speaker",
            "Soundbar",
            "Studio Headphones",
            "Portable Radio",
            "Turntable",
            "Smart Speaker",
        ],
        price_range: (25, 499),
    },
    Catalogue {
        category_id: 9,
        brands: &["Voltix", "Kinetic", "Northcell"],
        items: &[
            "USB-C Charger 65W",
            "Phone Case",
            "Screen Protector",
            "Laptop Sleeve 14\"",
            "Wireless Mouse",
            "Mechanical Keyboard",
            "Power Bank 20000mAh",
            "HDMI Cable 2m",
        ],
        price_range: (8, 149),
    },
    Catalogue {
        category_id: 10,
        brands: &["Ferro", "Casa Verde", "Kitchenly"],
        items: &[
            "Cast Iron Skillet 26cm",
            "Nonstick Frying Pan",
            "Stainless Saucepan Set",
            "Dutch Oven 5L",
            "Chef's Knife 20cm",
            "Carbon Steel Wok",
            "Baking Sheet Set",
            "Pressure Cooker 6L",
        ],
        price_range: (15, 289),
    },
    Catalogue {
        category_id: 11,
        brands: &["Barista & Co", "Morning Ritual", "Roastery Nine"],
        items: &[
            "Espresso Machine",
            "Burr Coffee Grinder",
            "French Press 1L",
            "Pour-Over Kettle",
            "Colombian Coffee Beans 1kg",
            "Ethiopian Coffee Beans 500g",
            "Green Tea Sampler",
            "Milk Frother",
        ],
        price_range: (9, 749),
    },
    Catalogue {
        category_id: 12,
        brands: &["Nordhaus", "Atelier", "Woodline"],
        items: &[
            "Oak Dining Table",
            "Ergonomic Office Chair",
            "Bookshelf 5-Tier",
            "Standing Desk",
            "Velvet Sofa",
            "Bedside Table",
            "Bar Stool",
            "Wall Mirror",
        ],
        price_range: (39, 1299),
    },
    Catalogue {
        category_id: 13,
        brands: &["Stride", "Apex Run", "Fleetfoot"],
        items: &[
            "Trail Running Shoes",
            "Road Running Shoes",
            "Running Socks 3-Pack",
            "Hydration Vest",
            "GPS Running Watch",
            "Reflective Jacket",
            "Compression Tights",
            "Running Cap",
        ],
        price_range: (9, 399),
    },
    Catalogue {
        category_id: 14,
        brands: &["Summit", "Wildtrail", "Basecamp"],
        items: &[
            "2-Person Tent",
            "4-Person Tent",
            "Sleeping Bag -5°C",
            "Camping Stove",
            "Headlamp 400lm",
            "Inflatable Sleeping Pad",
            "Folding Camp Chair",
            "Water Filter Bottle",
        ],
        price_range: (12, 499),
    },
    Catalogue {
        category_id: 15,
        brands: &["Velo", "Spoke & Chain", "Ridgeline"],
        items: &[
            "City Bike",
            "Gravel Bike",
            "Bike Helmet",
            "Bike Lock",
            "LED Bike Lights",
            "Cycling Gloves",
            "Floor Pump",
            "Saddle Bag",
        ],
        price_range: (12, 1899),
    },
    Catalogue {
        category_id: 16,
        brands: &["Harbor", "Tailor & Oak", "Northline"],
        items: &[
            "Oxford Shirt",
            "Slim Chinos",
            "Merino Sweater",
            "Rain Jacket",
            "Denim Jacket",
            "Linen Shirt",
            "Wool Overcoat",
            "Polo Shirt",
        ],
        price_range: (19, 299),
    },
    Catalogue {
        category_id: 17,
        brands: &["Harbor", "Maison Lune", "Northline"],
        items: &[
            "Wrap Dress",
            "Cashmere Cardigan",
            "High-Rise Jeans",
            "Trench Coat",
            "Silk Blouse",
            "Pleated Skirt",
            "Puffer Jacket",
            "Linen Trousers",
        ],
        price_range: (19, 349),
    },
    Catalogue {
        category_id: 18,
        brands: &["Harbor", "Maison Lune", "Tailor & Oak"],
        items: &[
            "Leather Belt",
            "Wool Scarf",
            "Canvas Tote Bag",
            "Leather Wallet",
            "Sunglasses",
            "Knit Beanie",
            "Leather Gloves",
            "Silk Tie",
        ],
        price_range: (9, 149),
    },
    Catalogue {
        category_id: 19,
        brands: &[],
        items: &[
            "The Silent Harbor",
            "A Map of Small Stars",
            "Winter in Lisbon",
            "The Clockmaker's Daughter",
            "Salt and Iron",
            "The Last Orchard",
            "Murder on the Northern Line",
            "Glass Rivers",
        ],
        price_range: (7, 29),
    },
    Catalogue {
        category_id: 20,
        brands: &[],
        items: &[
            "Practical SQL Handbook",
            "A Short History of Trade",
            "The Data Detective",
            "Cooking for Two",
            "Mindful Running",
            "Designing Small Homes",
            "The Art of Negotiation",
            "Introduction to Astronomy",
        ],
        price_range: (9, 45),
    },
];

/// (name, country id, top-level category ids it supplies).
const SUPPLIERS: &[(&str, i64, &[i64])] = &[
    ("Northwind Trading", 1, &[1, 2]),
    ("Blue Harbor Supply", 1, &[3, 4]),
    ("Pacific Rim Imports", 1, &[1]),
    ("Maple Leaf Wholesale", 2, &[2, 3]),
    ("Thames Valley Books", 3, &[5]),
    ("Union Jack Outfitters", 3, &[3, 4]),
    ("Maison Durand", 4, &[2, 4]),
    ("Alpine Goods GmbH", 5, &[3, 2]),
    ("Rhein Elektronik", 5, &[1]),
    ("Iberia Distribución", 6, &[4, 2]),
    ("Lombardia Moda", 7, &[4]),
    ("Tulip Logistics", 8, &[1, 5]),
    ("Sakura Electronics", 9, &[1]),
    ("Bengal Textiles", 10, &[4]),
    ("Outback Outfitters", 11, &[3]),
    ("Rio Verde Comércio", 12, &[2, 5]),
];

const FIRST_NAMES: &[&str] = &[
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "Lucas",
    "Mia",
    "Mateo",
    "Amelia",
    "Hiroshi",
    "Yuki",
    "Priya",
    "Arjun",
    "Chloé",
    "Louis",
    "Léa",
    "Hannah",
    "Felix",
    "Lena",
    "Jonas",
    "Sofía",
    "Alejandro",
    "Lucía",
    "Giulia",
    "Marco",
    "Sven",
    "Ingrid",
    "Aisha",
    "Omar",
    "Fatima",
    "Wei",
    "Mei",
    "Ana",
    "João",
    "Beatriz",
    "Carlos",
    "Valentina",
    "Daniel",
    "Grace",
    "Ethan",
    "Zoë",
    "Jack",
    "Emily",
    "Thomas",
    "Charlotte",
    "William",
    "Harper",
    "James",
    "Aria",
    "Benjamin",
    "Nora",
    "Samuel",
    "Ruby",
    "Henry",
    "Ivy",
    "Jordan",
];

const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Martinez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Martin",
    "Lee",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Tanaka",
    "Sato",
    "Suzuki",
    "Patel",
    "Sharma",
    "Singh",
    "Dubois",
    "Moreau",
    "Lefèvre",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Rossi",
    "Russo",
    "Ferrari",
    "Fernández",
    "González",
    "Rodríguez",
    "Silva",
    "Santos",
    "Oliveira",
    "van Dijk",
    "de Vries",
    "Jansen",
    "O'Brien",
    "Murphy",
    "Kelly",
    "Nguyen",
];

const EMAIL_DOMAINS: &[&str] = &["example.com", "example.org", "example.net", "mail.example"];

/// (carrier, probability that a parcel arrives after the expected date).
const CARRIERS: &[(&str, f64)] = &[
    ("DHL", 0.08),
    ("UPS", 0.10),
    ("FedEx", 0.07),
    ("DPD", 0.18),
    ("PostNL", 0.14),
    ("Royal Mail", 0.22),
];

const REVIEW_TITLES: [&[&str]; 5] = [
    &["Very disappointed", "Broke after a week", "Do not buy"],
    &["Not great", "Below expectations", "Meh"],
    &["It's okay", "Does the job", "Average"],
    &["Good value", "Happy with it", "Solid purchase"],
    &[
        "Excellent!",
        "Love it",
        "Exactly as described",
        "Best purchase this year",
    ],
];

const REVIEW_BODIES: [&[&str]; 5] = [
    &[
        "Stopped working after a few days and support never answered.",
        "Cheap materials, returned it.",
    ],
    &[
        "Smaller than the pictures suggest.",
        "Works, but the finish is poor.",
    ],
    &[
        "Fine for the price, nothing special.",
        "Arrived late but works as expected.",
    ],
    &[
        "Good quality and quick delivery.",
        "Would buy again, minor issues only.",
    ],
    &[
        "Outstanding quality, highly recommended.",
        "Perfect gift, arrived early and well packed.",
    ],
];

/// Strip the accents of the names above so e-mail addresses stay ASCII.
fn ascii_fold(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'á' | 'ã' | 'à' => Some('a'),
            'é' | 'è' | 'ë' => Some('e'),
            'í' => Some('i'),
            'ó' | 'ö' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ñ' => Some('n'),
            'ç' => Some('c'),
            ' ' | '\'' => None,
            other => Some(other.to_ascii_lowercase()),
        })
        .collect()
}

/// A product as the order generator needs it.
struct ProductFacts {
    id: i64,
    list_price_cents: i64,
    launched_on: Day,
    discontinued: bool,
    popularity: f64,
    quality: f64,
}

/// A customer as the order generator needs it.
struct CustomerFacts {
    id: i64,
    city_id: i64,
    signed_up: Day,
    activity: f64,
}

/// Generate every table of the shop from `seed`.
fn generate_shop(seed: u64) -> Vec<TableData> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tables = Vec::new();

    tables.push(TableData {
        name: "countries",
        ddl: "CREATE TABLE countries (
    country_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    iso_code TEXT NOT NULL UNIQUE,
    continent TEXT NOT NULL
);",
        rows: COUNTRIES
            .iter()
            .zip(1..)
            .map(|((name, iso, continent), id)| {
                vec![int(id), text(name), text(iso), text(continent)]
            })
            .collect(),
    });

    tables.push(TableData {
        name: "cities",
        ddl: "CREATE TABLE cities (
    city_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT,
    country_id INTEGER NOT NULL REFERENCES countries (country_id)
);",
        rows: CITIES
            .iter()
            .zip(1..)
            .map(|((name, region, country, _), id)| {
                vec![int(id), text(name), text(region), int(*country)]
            })
            .collect(),
    });

    let customers = generate_customers(&mut rng);
    tables.push(customers.0);
    let customers = customers.1;

    tables.push(TableData {
        name: "categories",
        ddl: "CREATE TABLE categories (
    category_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    parent_category_id INTEGER REFERENCES categories (category_id)
);",
        rows: CATEGORIES
            .iter()
            .zip(1..)
            .map(|((name, parent), id)| vec![int(id), text(name), optional(*parent, int)])
            .collect(),
    });

    tables.push(TableData {
        name: "suppliers",
        ddl: "CREATE TABLE suppliers (
    supplier_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country_id INTEGER NOT NULL REFERENCES countries (country_id),
    contact_email TEXT
);",
        rows: SUPPLIERS
            .iter()
            .zip(1..)
            .map(|((name, country, _), id)| {
                let email = rng
                    .random_bool(0.85)
                    .then(|| format!("orders@{}.example", ascii_fold(name).replace('&', "")));
                vec![
                    int(id),
                    text(name),
                    int(*country),
                    optional(email, SqlValue::Text),
                ]
            })
            .collect(),
    });

    let (product_table, products) = generate_products(&mut rng);
    tables.push(product_table);

    tables.push(generate_employees(&mut rng));

    let orders = generate_orders(&mut rng, &customers, &products);
    tables.extend(orders);
    tables
}

fn generate_customers(rng: &mut ChaCha8Rng) -> (TableData, Vec<CustomerFacts>) {
    const CUSTOMERS: i64 = 320;
    let city_weights: Vec<f64> = CITIES.iter().map(|c| c.3).collect();
    let span = (LAST_DAY.0 - 30 - FIRST_DAY.0) as f64;
    let mut rows = Vec::new();
    let mut facts = Vec::new();
    for id in 1..=CUSTOMERS {
        let first = FIRST_NAMES.choose(rng).copied().unwrap_or("Alex");
        let last = LAST_NAMES.choose(rng).copied().unwrap_or("Smith");
        let city_id = pick_weighted(rng, &city_weights).unwrap_or(0) as i64 + 1;
        // A dozen founding customers join in January 2019; later sign-ups lean towards later
        // years (sqrt is exact in IEEE arithmetic, so this stays platform-independent).
        let signed_up = if id <= 12 {
            random_day(rng, FIRST_DAY, Day::from_civil(2019, 1, 31))
        } else {
            let draw = rng.random::<f64>();
            FIRST_DAY.plus((span * (draw + draw.sqrt()) / 2.0) as i64)
        };
        let email = (!rng.random_bool(0.06)).then(|| {
            let domain = EMAIL_DOMAINS.choose(rng).copied().unwrap_or("example.com");
            format!("{}.{}{id}@{domain}", ascii_fold(first), ascii_fold(last))
        });
        let born = rng.random_bool(0.7).then(|| {
            random_day(
                rng,
                Day::from_civil(1950, 1, 1),
                Day::from_civil(2005, 12, 31),
            )
        });
        let tier_draw = rng.random::<f64>();
        let (tier, tier_boost) = match tier_draw {
            x if x < 0.45 => (None, 1.0),
            x if x < 0.75 => (Some("bronze"), 1.0),
            x if x < 0.92 => (Some("silver"), 1.5),
            _ => (Some("gold"), 2.2),
        };
        // About 8% never order anything.
        let activity = if rng.random_bool(0.08) {
            0.0
        } else {
            heavy_tailed_weight(rng) * tier_boost
        };
        rows.push(vec![
            int(id),
            text(first),
            text(last),
            optional(email, SqlValue::Text),
            optional(born, Day::sql),
            int(city_id),
            signed_up.sql(),
            optional(tier, text),
        ]);
        facts.push(CustomerFacts {
            id,
            city_id,
            signed_up,
            activity,
        });
    }
    let table = TableData {
        name: "customers",
        ddl: "CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT UNIQUE,
    date_of_birth DATE,
    city_id INTEGER NOT NULL REFERENCES cities (city_id),
    signup_date DATE NOT NULL,
    loyalty_tier TEXT CHECK (loyalty_tier IN ('bronze', 'silver', 'gold'))
);",
        rows,
    };
    (table, facts)
}

fn generate_products(rng: &mut ChaCha8Rng) -> (TableData, Vec<ProductFacts>) {
    let mut rows = Vec::new();
    let mut facts = Vec::new();
    let mut id = 0;
    for catalogue in CATALOGUES {
        let top_category = CATEGORIES
            .get(catalogue.category_id as usize - 1)
            .and_then(|c| c.1)
            .unwrap_or(1);
        let suppliers: Vec<i64> = SUPPLIERS
            .iter()
            .zip(1..)
            .filter(|((_, _, tops), _)| tops.contains(&top_category))
            .map(|(_, supplier_id)| supplier_id)
            .collect();
        for item in catalogue.items {
            id += 1;
            let name = match catalogue.brands.choose(rng) {
                Some(brand) => format!("{brand} {item}"),
                None => item.to_string(),
            };
            let supplier = suppliers.choose(rng).copied().unwrap_or(1);
            let (low, high) = catalogue.price_range;
            // Prices end in .99, skewed towards the cheaper end of the range.
            let draw = rng.random::<f64>();
            let whole = low + ((high - low) as f64 * draw * draw) as i64;
            let list_price_cents = whole * 100 + 99;
            // Unit cost is 45%..75% of the list price, in basis points so margins rarely tie.
            let cost_basis_points = rng.random_range(4_500..=7_500);
            let cost_cents = list_price_cents * cost_basis_points / 10_000;
            let launched_on = random_day(
                rng,
                Day::from_civil(2018, 6, 1),
                Day::from_civil(2025, 3, 1),
            );
            let discontinued = launched_on < Day::from_civil(2023, 1, 1) && rng.random_bool(0.15);
            // Discontinued products have no stock; about 10% of the others are sold out.
            let stock = if discontinued || rng.random_bool(0.1) {
                0
            } else {
                rng.random_range(1..=400)
            };
            // About 7% are never ordered; cheaper products sell more often.
            let popularity = if rng.random_bool(0.07) {
                0.0
            } else {
                heavy_tailed_weight(rng) * 300.0 / (300.0 + whole as f64)
            };
            let quality = 2.6 + 2.2 * rng.random::<f64>();
            rows.push(vec![
                int(id),
                SqlValue::Text(name),
                int(catalogue.category_id),
                int(supplier),
                money(list_price_cents),
                money(cost_cents),
                int(stock),
                int(i64::from(discontinued)),
                launched_on.sql(),
            ]);
            facts.push(ProductFacts {
                id,
                list_price_cents,
                launched_on,
                discontinued,
                popularity,
                quality,
            });
        }
    }
    let table = TableData {
        name: "products",
        ddl: "CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    category_id INTEGER NOT NULL REFERENCES categories (category_id),
    supplier_id INTEGER NOT NULL REFERENCES suppliers (supplier_id),
    unit_price REAL NOT NULL,
    unit_cost REAL NOT NULL,
    stock_quantity INTEGER NOT NULL,
    is_discontinued INTEGER NOT NULL DEFAULT 0 CHECK (is_discontinued IN (0, 1)),
    launch_date DATE NOT NULL
);",
        rows,
    };
    (table, facts)
}

/// Staff, in a fixed hierarchy: a CEO, regional managers, store managers, sales associates and
/// customer service representatives. Ids 5..=14 sell in stores, 15..=18 take phone orders.
fn generate_employees(rng: &mut ChaCha8Rng) -> TableData {
    // (job title, manager id, salary range in whole units).
    let roles: [(&str, Option<i64>, (i64, i64)); 18] = [
        ("Chief Executive Officer", None, (180_000, 220_000)),
        ("Regional Manager", Some(1), (95_000, 120_000)),
        ("Regional Manager", Some(1), (95_000, 120_000)),
        ("Regional Manager", Some(1), (95_000, 120_000)),
        ("Store Manager", Some(2), (62_000, 78_000)),
        ("Store Manager", Some(3), (62_000, 78_000)),
        ("Store Manager", Some(4), (62_000, 78_000)),
        ("Sales Associate", Some(5), (34_000, 46_000)),
        ("Sales Associate", Some(5), (34_000, 46_000)),
        ("Sales Associate", Some(6), (34_000, 46_000)),
        ("Sales Associate", Some(6), (34_000, 46_000)),
        ("Sales Associate", Some(7), (34_000, 46_000)),
        ("Sales Associate", Some(7), (34_000, 46_000)),
        ("Sales Associate", Some(7), (34_000, 46_000)),
        ("Customer Service Representative", Some(2), (36_000, 48_000)),
        ("Customer Service Representative", Some(3), (36_000, 48_000)),
        ("Customer Service Representative", Some(4), (36_000, 48_000)),
        ("Customer Service Representative", Some(4), (36_000, 48_000)),
    ];
    let rows = roles
        .iter()
        .zip(1..)
        .map(|((title, manager, (low, high)), id)| {
            let first = FIRST_NAMES.choose(rng).copied().unwrap_or("Alex");
            let last = LAST_NAMES.choose(rng).copied().unwrap_or("Smith");
            // Managers were hired first; everyone was hired before the first order.
            let hired = random_day(
                rng,
                Day::from_civil(2015 + manager.map_or(0, |m| m.min(3)), 1, 1),
                Day::from_civil(2018, 12, 31),
            );
            let salary = rng.random_range(*low..=*high) / 100 * 100;
            vec![
                int(id),
                text(first),
                text(last),
                text(title),
                hired.sql(),
                int(salary),
                optional(*manager, int),
            ]
        })
        .collect();
    TableData {
        name: "employees",
        ddl: "CREATE TABLE employees (
    employee_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    job_title TEXT NOT NULL,
    hire_date DATE NOT NULL,
    salary INTEGER NOT NULL,
    manager_id INTEGER REFERENCES employees (employee_id)
);",
        rows,
    }
}

/// Relative order volume on a day: growth over the years, peaks in November and December.
fn order_intensity(day: Day) -> f64 {
    let progress = (day.0 - FIRST_DAY.0) as f64 / (LAST_DAY.0 - FIRST_DAY.0) as f64;
    let season = match day.civil().1 {
        11 => 1.5,
        12 => 1.8,
        1 | 2 => 0.8,
        _ => 1.0,
    };
    (0.35 + 0.65 * progress) * season
}

/// Orders and everything that hangs off them: order_items, payments, shipments, reviews.
fn generate_orders(
    rng: &mut ChaCha8Rng,
    customers: &[CustomerFacts],
    products: &[ProductFacts],
) -> Vec<TableData> {
    const ORDERS: usize = 1100;
    const MAX_INTENSITY: f64 = 1.8;
    let mut order_days: Vec<Day> = Vec::with_capacity(ORDERS);
    while order_days.len() < ORDERS {
        let day = random_day(rng, FIRST_DAY, LAST_DAY);
        if rng.random::<f64>() * MAX_INTENSITY < order_intensity(day) {
            order_days.push(day);
        }
    }
    // Order ids grow with the date, as in a real shop.
    order_days.sort();

    let mut orders = Vec::new();
    let mut items = Vec::new();
    let mut payments = Vec::new();
    let mut shipments = Vec::new();
    let mut reviews = Vec::new();
    let mut reviewed: HashSet<(i64, i64)> = HashSet::new();
    let discontinued_after = Day::from_civil(2024, 6, 30);

    for (order_id, order_day) in (1..).zip(order_days) {
        let customer_weights: Vec<f64> = customers
            .iter()
            .map(|c| {
                if c.signed_up <= order_day {
                    c.activity
                } else {
                    0.0
                }
            })
            .collect();
        let Some(customer) = pick_weighted(rng, &customer_weights).and_then(|i| customers.get(i))
        else {
            continue;
        };
        let channel = match rng.random::<f64>() {
            x if x < 0.55 => "web",
            x if x < 0.80 => "mobile",
            x if x < 0.95 => "store",
            _ => "phone",
        };
        let employee = match channel {
            "store" => Some(rng.random_range(5..=14)),
            "phone" => Some(rng.random_range(15..=18)),
            _ => None,
        };
        let ship_city = if rng.random_bool(0.9) {
            customer.city_id
        } else {
            rng.random_range(1..=CITIES.len() as i64)
        };
        let age_days = LAST_DAY.0 - order_day.0;
        let status = match age_days {
            0..=4 => *["pending", "processing"].choose(rng).unwrap_or(&"pending"),
            5..=20 => *["processing", "shipped", "shipped", "delivered"]
                .choose(rng)
                .unwrap_or(&"shipped"),
            _ => match rng.random::<f64>() {
                x if x < 0.06 => "cancelled",
                x if x < 0.11 => "returned",
                _ => "delivered",
            },
        };

        // Lines: distinct products available that day.
        let product_weights: Vec<f64> = products
            .iter()
            .map(|p| {
                let available = p.launched_on <= order_day
                    && !(p.discontinued && order_day > discontinued_after);
                if available { p.popularity } else { 0.0 }
            })
            .collect();
        let lines = match rng.random::<f64>() {
            x if x < 0.45 => 1,
            x if x < 0.73 => 2,
            x if x < 0.88 => 3,
            x if x < 0.96 => 4,
            _ => 5,
        };
        let mut chosen: Vec<&ProductFacts> = Vec::new();
        let mut weights = product_weights;
        for _ in 0..lines {
            let Some(index) = pick_weighted(rng, &weights) else {
                break;
            };
            if let (Some(product), Some(weight)) = (products.get(index), weights.get_mut(index)) {
                chosen.push(product);
                *weight = 0.0;
            }
        }
        if chosen.is_empty() {
            continue;
        }
        let years_before_end = (LAST_DAY.0 - order_day.0) / 365;
        let black_friday_month = order_day.civil().1 == 11;
        let mut total_cents = 0;
        for product in &chosen {
            let quantity = match rng.random::<f64>() {
                x if x < 0.70 => 1,
                x if x < 0.88 => 2,
                x if x < 0.95 => 3,
                _ => rng.random_range(4..=6),
            };
            // Prices were a few percent lower in earlier years.
            let unit_price_cents = product.list_price_cents * (100 - 3 * years_before_end) / 100;
            let discount_percent = match rng.random::<f64>() {
                x if x < (if black_friday_month { 0.4 } else { 0.75 }) => 0,
                x if x < 0.85 => 5,
                x if x < 0.93 => 10,
                x if x < 0.98 => 15,
                _ => 20,
            };
            total_cents += quantity * unit_price_cents * (100 - discount_percent) / 100;
            items.push(vec![
                int(order_id),
                int(product.id),
                int(quantity),
                money(unit_price_cents),
                SqlValue::Real(discount_percent as f64 / 100.0),
            ]);
        }

        // Shipment first: a delivery that would land after the last day is still in transit.
        let mut status = status;
        let mut delivered_on = None;
        if matches!(status, "shipped" | "delivered" | "returned") {
            let (carrier, late_probability) = *CARRIERS.choose(rng).unwrap_or(&("DHL", 0.1));
            let shipped_on = order_day.plus(rng.random_range(0..=2)).min(LAST_DAY);
            let expected_on = shipped_on.plus(rng.random_range(2..=6));
            let arrival = if rng.random_bool(late_probability) {
                expected_on.plus(rng.random_range(1..=6))
            } else {
                expected_on.plus(-rng.random_range(0..=1))
            };
            if status == "shipped" || arrival > LAST_DAY {
                status = "shipped";
            } else {
                delivered_on = Some(arrival);
            }
            shipments.push(vec![
                int(shipments.len() as i64 + 1),
                int(order_id),
                text(carrier),
                shipped_on.sql(),
                expected_on.sql(),
                optional(delivered_on, Day::sql),
            ]);
        }

        if status != "cancelled" && status != "pending" {
            let method = match (channel, rng.random::<f64>()) {
                ("store", x) if x < 0.3 => "cash",
                (_, x) if x < 0.62 => "card",
                (_, x) if x < 0.84 => "paypal",
                (_, x) if x < 0.93 => "bank_transfer",
                _ => "gift_card",
            };
            let paid_on = if method == "bank_transfer" {
                order_day.plus(rng.random_range(1..=3)).min(LAST_DAY)
            } else {
                order_day
            };
            // A few orders are paid partly with a gift card.
            if method == "card" && total_cents > 5_000 && rng.random_bool(0.08) {
                let gift_cents = 2_500;
                payments.push(vec![
                    int(payments.len() as i64 + 1),
                    int(order_id),
                    order_day.sql(),
                    money(gift_cents),
                    text("gift_card"),
                ]);
                payments.push(vec![
                    int(payments.len() as i64 + 1),
                    int(order_id),
                    paid_on.sql(),
                    money(total_cents - gift_cents),
                    text("card"),
                ]);
            } else {
                payments.push(vec![
                    int(payments.len() as i64 + 1),
                    int(order_id),
                    paid_on.sql(),
                    money(total_cents),
                    text(method),
                ]);
            }
        }

        if let Some(delivered_on) = delivered_on {
            for product in &chosen {
                if !rng.random_bool(0.2) || !reviewed.insert((customer.id, product.id)) {
                    continue;
                }
                let review_day = delivered_on.plus(rng.random_range(1..=30));
                if review_day > LAST_DAY {
                    continue;
                }
                let noisy = product.quality + 2.4 * rng.random::<f64>() - 1.2;
                let rating = (noisy.round() as i64).clamp(1, 5);
                let index = (rating - 1) as usize;
                let title = REVIEW_TITLES
                    .get(index)
                    .and_then(|titles| titles.choose(rng))
                    .copied()
                    .unwrap_or("Review");
                let body = rng
                    .random_bool(0.6)
                    .then(|| {
                        REVIEW_BODIES
                            .get(index)
                            .and_then(|b| b.choose(rng))
                            .copied()
                    })
                    .flatten();
                reviews.push(vec![
                    int(reviews.len() as i64 + 1),
                    int(product.id),
                    int(customer.id),
                    int(rating),
                    review_day.sql(),
                    text(title),
                    optional(body, text),
                ]);
            }
        }

        orders.push(vec![
            int(order_id),
            int(customer.id),
            optional(employee, int),
            order_day.sql(),
            text(status),
            text(channel),
            int(ship_city),
        ]);
    }

    vec![
        TableData {
            name: "orders",
            ddl: "CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    employee_id INTEGER REFERENCES employees (employee_id),
    order_date DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'shipped', 'delivered', 'cancelled', 'returned')),
    channel TEXT NOT NULL CHECK (channel IN ('web', 'mobile', 'store', 'phone')),
    ship_city_id INTEGER NOT NULL REFERENCES cities (city_id)
);",
            rows: orders,
        },
        TableData {
            name: "order_items",
            ddl: "CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders (order_id),
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price REAL NOT NULL,
    discount REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, product_id)
);",
            rows: items,
        },
        TableData {
            name: "payments",
            ddl: "CREATE TABLE payments (
    payment_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (order_id),
    payment_date DATE NOT NULL,
    amount REAL NOT NULL,
    method TEXT NOT NULL
);",
            rows: payments,
        },
        TableData {
            name: "shipments",
            ddl: "CREATE TABLE shipments (
    shipment_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL UNIQUE REFERENCES orders (order_id),
    carrier TEXT NOT NULL,
    shipped_date DATE NOT NULL,
    expected_delivery_date DATE NOT NULL,
    delivered_date DATE
);",
            rows: shipments,
        },
        TableData {
            name: "reviews",
            ddl: "CREATE TABLE reviews (
    review_id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    review_date DATE NOT NULL,
    title TEXT NOT NULL,
    body TEXT
);",
            rows: reviews,
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Questions
// ---------------------------------------------------------------------------------------------

/// The bundled question set, compiled in.
const DEMO_QUESTIONS_JSON: &str = include_str!("../data/demo_questions.json");

/// One demo question in the interactive-task format of DESIGN.md (the fields BIRD-Interact
/// uses), so the user simulator can run it as is. For a clear question, `amb_user_query` and
/// `clear_question` are the same text and there are no critical ambiguities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoQuestion {
    /// Unique id, `shop_<n>`.
    pub instance_id: String,
    /// Always [`DEMO_DB_ID`].
    pub db_id: String,
    /// The question as the user first asks it (possibly ambiguous).
    pub amb_user_query: String,
    /// Ambiguities of the wording.
    pub user_query_ambiguity: UserQueryAmbiguity,
    /// Hidden domain facts the user knows and the schema does not say.
    #[serde(default)]
    pub knowledge_ambiguity: Vec<KnowledgeAmbiguity>,
    /// The question with every ambiguity resolved.
    pub clear_question: String,
    /// Gold SQL (SQLite) answering `clear_question` on the demo database.
    pub sol_sql: String,
    /// An optional second question that builds on the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
    /// How hard the question is.
    pub difficulty: Difficulty,
}

impl DemoQuestion {
    /// The question as a user asks it first.
    pub fn question(&self) -> &str {
        &self.amb_user_query
    }

    /// The gold SQL.
    pub fn sql(&self) -> &str {
        &self.sol_sql
    }

    /// True when the question cannot be answered correctly without asking: it has at least one
    /// critical ambiguity.
    pub fn is_ambiguous(&self) -> bool {
        !self.user_query_ambiguity.critical_ambiguity.is_empty()
    }

    /// Every annotated ambiguity: critical, non-critical, then knowledge ones (as `Ambiguity`
    /// views: term and snippet).
    pub fn ambiguity_snippets(&self) -> impl Iterator<Item = (&str, &str)> {
        let user = self
            .user_query_ambiguity
            .critical_ambiguity
            .iter()
            .chain(&self.user_query_ambiguity.non_critical_ambiguity)
            .map(|a| (a.term.as_str(), a.sql_snippet.as_str()));
        let knowledge = self
            .knowledge_ambiguity
            .iter()
            .map(|k| (k.term.as_str(), k.sql_snippet.as_str()));
        user.chain(knowledge)
    }
}

/// The two kinds of wording ambiguity of the interactive-task format.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserQueryAmbiguity {
    /// Ambiguities that change the answer: the agent must ask about them.
    #[serde(default)]
    pub critical_ambiguity: Vec<Ambiguity>,
    /// Ambiguities with a sensible default (formatting, ordering, rounding).
    #[serde(default)]
    pub non_critical_ambiguity: Vec<Ambiguity>,
}

/// One annotated ambiguity: the words of the question, the SQL fragment of the gold query that
/// resolves them, and its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ambiguity {
    /// The ambiguous words, as they appear in `amb_user_query`.
    pub term: String,
    /// The fragment of `sol_sql` that resolves it (occurs literally in `sol_sql`).
    pub sql_snippet: String,
    /// True when the term was masked out of the question (BIRD-Interact's notion: the user
    /// left the detail out entirely rather than saying it vaguely).
    pub is_mask: bool,
    /// One of [`AMBIGUITY_KINDS`].
    #[serde(rename = "type")]
    pub kind: String,
}

/// The ambiguity kinds used by the demo questions.
pub const AMBIGUITY_KINDS: &[&str] = &[
    "intent_ambiguity",
    "threshold_ambiguity",
    "schema_linking_ambiguity",
    "value_ambiguity",
    "sort_ambiguity",
    "format_ambiguity",
];

/// A hidden fact of the domain: what the user means by a term, and its SQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeAmbiguity {
    /// The term as the user says it.
    pub term: String,
    /// What it means in this shop.
    pub description: String,
    /// The SQL fragment of `sol_sql` that expresses it.
    pub sql_snippet: String,
}

/// A follow-up question and its gold SQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// The follow-up as the user asks it, after the first answer.
    pub query: String,
    /// Gold SQL of the follow-up.
    pub sol_sql: String,
}

/// Difficulty, on BIRD's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Difficulty {
    Simple,
    Moderate,
    Challenging,
}

/// The bundled demo questions (from `tools/data/demo_questions.json`, compiled in), checked for
/// unique ids and consistent annotations.
pub fn demo_questions() -> ToolsResult<Vec<DemoQuestion>> {
    let questions: Vec<DemoQuestion> =
        serde_json::from_str(DEMO_QUESTIONS_JSON).map_err(|e| ToolsError::InvalidInput {
            message: format!(
                "the bundled demo questions (tools/data/demo_questions.json) do not parse: {e} \
                 (this is a bug in learnat; please report it)"
            ),
        })?;
    let mut ids = HashSet::new();
    for question in &questions {
        if !ids.insert(question.instance_id.as_str()) {
            return Err(bundled_question_error(
                question,
                "its instance_id is used twice",
            ));
        }
        if question.sol_sql.trim().is_empty() {
            return Err(bundled_question_error(question, "it has no sol_sql"));
        }
        if let Some((term, _)) = question
            .ambiguity_snippets()
            .find(|(_, snippet)| !question.sol_sql.contains(snippet))
        {
            return Err(bundled_question_error(
                question,
                &format!("the sql_snippet of '{term}' does not occur in its sol_sql"),
            ));
        }
    }
    Ok(questions)
}

fn bundled_question_error(question: &DemoQuestion, problem: &str) -> ToolsError {
    ToolsError::InvalidInput {
        message: format!(
            "bundled demo question {}: {problem} (this is a bug in learnat; please report it)",
            question.instance_id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2019, 1, 1),
            (2020, 2, 29),
            (2024, 12, 31),
            (2000, 3, 1),
        ] {
            let day = Day::from_civil(y, m, d);
            assert_eq!(day.civil(), (y, m, d));
        }
        assert_eq!(Day::from_civil(1970, 1, 1), Day(0));
        assert_eq!(
            Day::from_civil(2020, 3, 1).0 - Day::from_civil(2020, 2, 28).0,
            2
        );
        assert_eq!(Day::from_civil(2025, 6, 30).iso(), "2025-06-30");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(with_thousands_separators(7), "7");
        assert_eq!(with_thousands_separators(6075), "6,075");
        assert_eq!(with_thousands_separators(1_234_567), "1,234,567");
    }

    #[test]
    fn ascii_fold_keeps_emails_ascii() {
        assert_eq!(ascii_fold("Lefèvre"), "lefevre");
        assert_eq!(ascii_fold("O'Brien"), "obrien");
        assert_eq!(ascii_fold("van Dijk"), "vandijk");
        assert!(
            FIRST_NAMES
                .iter()
                .chain(LAST_NAMES)
                .all(|n| ascii_fold(n).is_ascii())
        );
    }

    #[test]
    fn weighted_pick_skips_zero_weights() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            assert_eq!(pick_weighted(&mut rng, &[0.0, 2.0, 0.0]), Some(1));
        }
        assert_eq!(pick_weighted(&mut rng, &[0.0, 0.0]), None);
    }

    #[test]
    fn generation_is_deterministic_in_memory() {
        let rows = |seed| {
            generate_shop(seed)
                .into_iter()
                .map(|t| format!("{}:{:?}", t.name, t.rows))
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(DEMO_SEED), rows(DEMO_SEED));
        assert_ne!(rows(DEMO_SEED), rows(DEMO_SEED + 1));
    }

    #[test]
    fn every_catalogue_is_a_leaf_category() {
        for catalogue in CATALOGUES {
            let category = CATEGORIES.get(catalogue.category_id as usize - 1);
            assert!(
                matches!(category, Some((_, Some(_)))),
                "{}",
                catalogue.category_id
            );
        }
    }
}
