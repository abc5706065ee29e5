//! Compiles proto/vpclab/v1 without a system protoc: protox parses the files (the well-known
//! google.protobuf types are built in), tonic-prost-build generates messages, clients and
//! servers, and the descriptor set is kept for gRPC server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    let files = ["network", "logs", "simulation", "routers", "ccn"]
        .map(|f| root.join(format!("vpclab/v1/{f}.proto")));
    let descriptors = protox::compile(&files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("vpclab_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
