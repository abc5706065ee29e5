//! The generated gRPC types of `proto/vpclab/v1` (messages, clients, servers).

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("vpclab.v1");

/// The encoded descriptor set, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("vpclab_descriptor");
