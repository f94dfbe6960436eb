//! Printing results as JSON (AWS CLI field names) or as a table.

use serde_json::Value;

use crate::cli::OutputFormat;

/// Prints `value` to stdout in the chosen format.
pub(crate) fn print(format: OutputFormat, value: &Value) {
    match format {
        OutputFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
            );
        }
        OutputFormat::Table => print!("{}", table(value)),
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(m) if m.len() == 1 => m.values().next().map(cell).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{s:<width$}", width = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A list of objects becomes columns; one object becomes KEY VALUE rows.
fn table(value: &Value) -> String {
    let inner = match value {
        Value::Object(m) if m.len() == 1 => m.values().next().unwrap_or(value),
        other => other,
    };
    match inner {
        Value::Array(items) if items.iter().all(Value::is_object) => {
            let mut headers: Vec<String> = Vec::new();
            for item in items {
                for k in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !headers.contains(k) {
                        headers.push(k.clone());
                    }
                }
            }
            let mut rows = vec![headers.clone()];
            for item in items {
                rows.push(headers.iter().map(|h| cell(&item[h])).collect());
            }
            if items.is_empty() {
                return "(none)\n".to_owned();
            }
            render(&rows)
        }
        Value::Object(m) => render(
            &m.iter()
                .map(|(k, v)| vec![k.clone(), cell(v)])
                .collect::<Vec<_>>(),
        ),
        other => format!("{}\n", cell(other)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lists_become_columns_and_objects_rows() {
        let t = table(&json!({"StreamInfoList": [
            {"StreamName": "a", "DataRetentionInHours": 1},
            {"StreamName": "long-name", "DataRetentionInHours": 24},
        ]}));
        assert_eq!(
            t,
            "StreamName  DataRetentionInHours\na           1\nlong-name   24\n"
        );
        let t = table(&json!({"StreamInfo": {"StreamName": "a", "Status": "ACTIVE"}}));
        assert_eq!(t, "StreamName  a\nStatus      ACTIVE\n");
        assert_eq!(table(&json!({"StreamInfoList": []})), "(none)\n");
    }
}
