//! Serde helpers that store float vectors as base64 of their little-endian bytes.
//!
//! Exact by construction (bit patterns, NaN payloads included) and about half the size of
//! decimal JSON. Use with `#[serde(with = "crate::algebra::serde_vec::f32s")]`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

macro_rules! float_vec {
    ($modname:ident, $t:ty, $n:literal) => {
        /// Base64 little-endian encoding of a float vector.
        pub mod $modname {
            use super::*;

            /// Serialises the vector.
            pub fn serialize<S: Serializer>(v: &[$t], s: S) -> Result<S::Ok, S::Error> {
                let mut bytes = Vec::with_capacity(v.len() * $n);
                for x in v {
                    bytes.extend_from_slice(&x.to_le_bytes());
                }
                s.serialize_str(&STANDARD.encode(bytes))
            }

            /// Deserialises the vector.
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<$t>, D::Error> {
                let s = String::deserialize(d)?;
                let bytes = STANDARD.decode(s.as_bytes()).map_err(D::Error::custom)?;
                if bytes.len() % $n != 0 {
                    return Err(D::Error::custom(
                        "float vector length is not a multiple of width",
                    ));
                }
                Ok(bytes
                    .chunks_exact($n)
                    .map(|c| {
                        let mut a = [0u8; $n];
                        a.copy_from_slice(c);
                        <$t>::from_le_bytes(a)
                    })
                    .collect())
            }
        }
    };
}

float_vec!(f32s, f32, 4);
float_vec!(f64s, f64, 8);

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct W {
        #[serde(with = "super::f32s")]
        a: Vec<f32>,
        #[serde(with = "super::f64s")]
        b: Vec<f64>,
    }

    #[test]
    fn exact_round_trip_and_bad_input() {
        let w = W {
            a: vec![0.1, -3.5e-38, f32::MAX, 1.0 / 3.0],
            b: vec![0.1, 1e-300, -0.0],
        };
        let s = serde_json::to_string(&w).unwrap();
        let back: W = serde_json::from_str(&s).unwrap();
        assert_eq!(
            back.a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            w.a.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(back.b[2].to_bits(), (-0.0f64).to_bits());
        assert!(serde_json::from_str::<W>(r#"{"a":"AAA=","b":""}"#).is_err());
        assert!(serde_json::from_str::<W>(r#"{"a":"!!","b":""}"#).is_err());
    }
}
