//! `vpclab run --format table`: records in aligned, named columns, for reading rather than
//! parsing. The columns are the cloud's positional format's fields; consecutive records with
//! the same fields share a table, and a record with other fields (a router's or a CCN's
//! among ENI records) starts a new one under its own names. Alignment needs every row's width,
//! so the table prints when the run ends: its memory grows with the records, as `--explain`'s
//! does.

use vpclab_sim::flowlog::format::{Format, TencentStyle};

/// The positional format a table lays out for `format`: itself when positional, tencent's
/// positional layout for its key/value one; `None` for formats without columns (alibaba's
/// and vpclab's JSON lines).
pub fn positional(format: &Format) -> Option<Format> {
    match format {
        Format::Tencent(TencentStyle::KeyValue) => Some(Format::Tencent(TencentStyle::Positional)),
        f if f.positional_fields().is_some() => Some(f.clone()),
        _ => None,
    }
}

/// Rows grouped in runs of the same fields.
#[derive(Default)]
pub struct Table {
    blocks: Vec<(Vec<&'static str>, Vec<Vec<String>>)>,
}

impl Table {
    /// Adds a record's line, whose values are its `fields` in order, space separated.
    pub fn push(&mut self, fields: Vec<&'static str>, line: &str) {
        let values = line.split(' ').map(str::to_string).collect();
        match self.blocks.last_mut() {
            Some((f, rows)) if *f == fields => rows.push(values),
            _ => self.blocks.push((fields, vec![values])),
        }
    }

    /// The tables, a blank line between two: a header of field names, then the rows, each
    /// column as wide as its widest cell, two spaces apart.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (fields, rows)) in self.blocks.iter().enumerate() {
            if i > 0 {
                out.push(String::new());
            }
            let columns = rows
                .iter()
                .map(Vec::len)
                .max()
                .unwrap_or(0)
                .max(fields.len());
            let mut widths = vec![0; columns];
            let header: Vec<&str> = fields.to_vec();
            for row in std::iter::once(&header)
                .map(|h| h.iter().map(|s| s.len()).collect::<Vec<_>>())
                .chain(rows.iter().map(|r| r.iter().map(String::len).collect()))
            {
                for (w, len) in widths.iter_mut().zip(row) {
                    *w = (*w).max(len);
                }
            }
            let render = |cells: &mut dyn Iterator<Item = &str>| {
                let line: Vec<String> = cells
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                line.join("  ").trim_end().to_string()
            };
            out.push(render(&mut header.iter().copied()));
            for row in rows {
                out.push(render(&mut row.iter().map(String::as_str)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_and_new_fields_start_a_new_table() {
        let mut t = Table::default();
        t.push(vec!["version", "srcaddr", "action"], "2 10.0.0.1 ACCEPT");
        t.push(
            vec!["version", "srcaddr", "action"],
            "2 203.0.113.12 REJECT",
        );
        t.push(vec!["version", "tgw-id"], "6 tgw-1");
        assert_eq!(
            t.lines(),
            [
                "version  srcaddr       action",
                "2        10.0.0.1      ACCEPT",
                "2        203.0.113.12  REJECT",
                "",
                "version  tgw-id",
                "6        tgw-1",
            ]
        );
    }
}
