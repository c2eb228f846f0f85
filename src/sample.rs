//! TEMPORARY STUB until the sample branch lands (replaced at merge).
//! stub
pub struct SampleConfig {
    pub seed: u64,
}
impl SampleConfig {
    pub fn demo() -> Self {
        Self { seed: 0 }
    }
    pub fn hostile() -> Self {
        Self { seed: 0 }
    }
}
#[derive(serde::Serialize)]
pub struct Truth;
impl Truth {
    pub fn to_csv(&self) -> String {
        String::new()
    }
}
pub fn write_sample(_c: &SampleConfig, _w: &mut impl std::io::Write) -> std::io::Result<Truth> {
    Ok(Truth)
}
pub fn write_bench_capture(_n: u64, _s: u64, _w: &mut impl std::io::Write) -> std::io::Result<()> {
    Ok(())
}
