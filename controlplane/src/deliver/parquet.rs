//! AWS flow-log files in Apache Parquet (flowlogs.md §1.1, §1.3; AWS VPC user guide, "Flow log
//! files": "Each file is compressed into a single Gzip file", Parquet "with Gzip compression").
//!
//! One column per field of the file's format, in print order, named as Athena's Parquet tables
//! and flowlogs-reader's Parquet path read them (`account_id`, `log_status`: the field name with
//! `_` for `-`), with the Parquet type §1.3 gives each field: INT32 for `version`, ports,
//! `protocol`, `tcp-flags` and `traffic-path`; INT64 for `packets`, `bytes`, `start`, `end`,
//! the `packets-lost-*` counters and a transit-gateway record's `protocol` (§1.3: INT_64 in
//! the TGW table); UTF-8 strings for the rest. Every column is optional: `-` is null.
//!
//! Uses the `parquet` crate's low-level writer (no Arrow). A file's rows (one flow log, five
//! minutes) are kept as typed columns and written as one row group when the file closes.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, GzipLevel, LogicalType, Repetition, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use vpclab_sim::flowlog::format::{AwsField, FieldScope, Format};

use super::DeliverError;

/// One file's rows, column by column.
pub(super) struct Rows {
    columns: Vec<Column>,
}

struct Column {
    name: String,
    values: Values,
    /// Definition levels: 1 present, 0 null.
    defined: Vec<i16>,
}

enum Values {
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Text(Vec<ByteArray>),
}

/// The Parquet type of an AWS field (§1.3).
fn physical(field: AwsField, scope: FieldScope) -> PhysicalType {
    match field {
        AwsField::Protocol if scope == FieldScope::TransitGateway => PhysicalType::INT64,
        AwsField::Version
        | AwsField::SrcPort
        | AwsField::DstPort
        | AwsField::Protocol
        | AwsField::TcpFlags
        | AwsField::TrafficPath => PhysicalType::INT32,
        AwsField::Packets
        | AwsField::Bytes
        | AwsField::Start
        | AwsField::End
        | AwsField::PacketsLostNoRoute
        | AwsField::PacketsLostBlackhole
        | AwsField::PacketsLostMtuExceeded
        | AwsField::PacketsLostTtlExpired => PhysicalType::INT64,
        _ => PhysicalType::BYTE_ARRAY,
    }
}

impl Rows {
    /// Empty columns for the fields of `format` (an AWS format: the v2 or TGW default).
    pub(super) fn new(format: &Format) -> Rows {
        let Format::Aws(aws) = format else {
            unreachable!("Parquet delivery is for AWS formats only (Delivery::new checks)")
        };
        let columns = aws
            .fields()
            .iter()
            .map(|&field| Column {
                name: field.name().replace('-', "_"),
                values: match physical(field, aws.scope()) {
                    PhysicalType::INT32 => Values::Int32(Vec::new()),
                    PhysicalType::INT64 => Values::Int64(Vec::new()),
                    _ => Values::Text(Vec::new()),
                },
                defined: Vec::new(),
            })
            .collect();
        Rows { columns }
    }

    /// Adds one rendered line (its values in the columns' order).
    pub(super) fn push(&mut self, line: &str) -> Result<(), String> {
        let mut values = line.split(' ');
        for column in &mut self.columns {
            let value = values
                .next()
                .ok_or_else(|| format!("line `{line}` has too few fields"))?;
            if value == "-" {
                column.defined.push(0);
                continue;
            }
            let not_a_number = |_| format!("{}: `{value}` is not a number", column.name);
            match &mut column.values {
                Values::Int32(v) => v.push(value.parse().map_err(not_a_number)?),
                Values::Int64(v) => v.push(value.parse().map_err(not_a_number)?),
                Values::Text(v) => v.push(ByteArray::from(value)),
            }
            column.defined.push(1);
        }
        Ok(())
    }

    /// Writes the file: one row group, gzip-compressed pages.
    pub(super) fn write(self, path: &Path) -> Result<(), DeliverError> {
        let err = |e: parquet::errors::ParquetError| DeliverError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let file = File::create(path).map_err(super::io_error(path))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::GZIP(GzipLevel::default()))
            .build();
        // The writer buffers its output itself.
        let mut writer = SerializedFileWriter::new(file, self.schema().map_err(err)?, props.into())
            .map_err(err)?;
        let mut group = writer.next_row_group().map_err(err)?;
        for column in &self.columns {
            let mut out = group
                .next_column()
                .map_err(err)?
                .expect("one column writer per schema column");
            let defined = Some(column.defined.as_slice());
            match &column.values {
                Values::Int32(v) => out.typed::<Int32Type>().write_batch(v, defined, None),
                Values::Int64(v) => out.typed::<Int64Type>().write_batch(v, defined, None),
                Values::Text(v) => out.typed::<ByteArrayType>().write_batch(v, defined, None),
            }
            .map_err(err)?;
            out.close().map_err(err)?;
        }
        group.close().map_err(err)?;
        // Writes the footer and flushes: a full disk is an error here, not lost in a drop.
        writer.into_inner().map(drop).map_err(err)
    }

    fn schema(&self) -> parquet::errors::Result<Arc<Type>> {
        let mut fields = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            let (physical, logical) = match column.values {
                Values::Int32(_) => (PhysicalType::INT32, None),
                Values::Int64(_) => (PhysicalType::INT64, None),
                Values::Text(_) => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
            };
            let field = Type::primitive_type_builder(&column.name, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(logical)
                .build()?;
            fields.push(Arc::new(field));
        }
        Ok(Arc::new(
            Type::group_type_builder("schema")
                .with_fields(fields)
                .build()?,
        ))
    }
}
