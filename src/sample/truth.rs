//! Ground truth of a generated sample: one row per attack wave.
//!
//! Same columns and conventions as the evaluation truth files in `shared/eval/*.truth.csv`
//! (`wave,kind,attacker,target,start,end,filter`, RFC 4180 quoting, epoch seconds), so the
//! evaluation code reads both. Written as RON (`samples/demo.truth.ron`) and as CSV.

use serde::{Deserialize, Serialize};

/// One attack wave as it was written to the capture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaveTruth {
    /// Wave id (`D1`, `D2`, ...).
    pub wave: String,
    /// Attack kind in snake_case (`port_scan_tcp_syn`, ...).
    pub kind: String,
    /// Attacker address, `spoofed` or `many`; several joined with `;`.
    pub attacker: String,
    /// Target address(es), joined with `;`.
    pub target: String,
    /// UTC epoch seconds of the first packet matching `filter`.
    pub start: f64,
    /// UTC epoch seconds of the last packet matching `filter`.
    pub end: f64,
    /// Number of packets in the wave (= packets matching `filter`).
    pub packets: u64,
    /// Wireshark display filter selecting exactly this wave's packets.
    pub filter: String,
}

/// Ground truth of a whole sample capture.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Seed the capture was generated from.
    pub seed: u64,
    /// Total packets written (background and waves).
    pub packets: u64,
    /// UTC epoch seconds of the first packet.
    pub first: f64,
    /// UTC epoch seconds of the last packet.
    pub last: f64,
    /// The waves, in time order.
    pub waves: Vec<WaveTruth>,
}

impl Truth {
    /// CSV with the evaluation truth header `wave,kind,attacker,target,start,end,filter`.
    ///
    /// Times have six decimals (the capture is microsecond pcap), like `lab_E.truth.csv`.
    #[must_use]
    pub fn to_csv(&self) -> String {
        let mut s = String::from("wave,kind,attacker,target,start,end,filter\n");
        for w in &self.waves {
            let cells = [
                csv_cell(&w.wave),
                csv_cell(&w.kind),
                csv_cell(&w.attacker),
                csv_cell(&w.target),
                format!("{:.6}", w.start),
                format!("{:.6}", w.end),
                csv_cell(&w.filter),
            ];
            s.push_str(&cells.join(","));
            s.push('\n');
        }
        s
    }

    /// Pretty RON, the format of `samples/demo.truth.ron`.
    ///
    /// # Errors
    /// Only if serialisation fails, which plain strings and numbers do not.
    pub fn to_ron(&self) -> Result<String, ron::Error> {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
    }

    /// Parses the RON written by [`Truth::to_ron`].
    ///
    /// # Errors
    /// When the text is not a valid truth document.
    pub fn from_ron(text: &str) -> Result<Self, ron::error::SpannedError> {
        ron::from_str(text)
    }
}

/// RFC 4180 quoting: quote when the cell holds a comma, quote, CR or LF; double inner quotes.
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Truth {
        Truth {
            seed: 1,
            packets: 10,
            first: 1.0,
            last: 2.0,
            waves: vec![WaveTruth {
                wave: "D1".into(),
                kind: "dns_tunnel_txt".into(),
                attacker: "10.0.0.77".into(),
                target: "10.0.0.2;198.51.100.53".into(),
                start: 1_772_442_000.000_001,
                end: 1_772_442_030.5,
                packets: 4,
                filter: "dns.qry.name contains \"t.example\", x".into(),
            }],
        }
    }

    #[test]
    fn csv_quotes_like_the_eval_files() {
        let csv = sample().to_csv();
        assert_eq!(
            csv,
            "wave,kind,attacker,target,start,end,filter\n\
             D1,dns_tunnel_txt,10.0.0.77,10.0.0.2;198.51.100.53,1772442000.000001,\
             1772442030.500000,\"dns.qry.name contains \"\"t.example\"\", x\"\n"
        );
    }

    #[test]
    fn ron_round_trips() {
        let t = sample();
        let text = t.to_ron().unwrap();
        assert_eq!(Truth::from_ron(&text).unwrap(), t);
    }
}
