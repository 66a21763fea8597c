fn main() {
    for arg in std::env::args().skip(1) {
        match capsim::scenario::load(std::path::Path::new(&arg)) {
            Ok(loaded) => println!("ok {}", loaded.scenario.name.value),
            Err(error) => println!("{error}"),
        }
    }
}
