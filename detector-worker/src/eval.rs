//! `detector-worker eval`: scores a labelled file and computes the usual
//! binary-classification metrics at the model's threshold.
//!
//! Input: CSV with a header holding `text` and `label` columns (the S-Labs
//! layout; RFC 4180 quoting), or JSONL with `{"text": ..., "label": ...}` per
//! line. Labels are `1`/`0`, `true`/`false`, or a name: the model's injection
//! label (or `injection`/`malicious`/`jailbreak`) counts as positive.

use std::path::Path;

use serde::Serialize;

use crate::WorkerError;

/// One labelled example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text: String,
    pub injection: bool,
}

/// Metrics at one threshold, plus the threshold-free ROC AUC.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub n: usize,
    pub threshold: f32,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub benign_fpr: f64,
    pub roc_auc: f64,
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    pub r#fn: usize,
}

/// Reads `.csv` or `.jsonl`/`.json` (by extension).
pub fn read_examples(path: &Path) -> Result<Vec<Example>, WorkerError> {
    let text = std::fs::read_to_string(path).map_err(|source| WorkerError::Io { path: path.to_path_buf(), source })?;
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension {
        "csv" => parse_csv(&text),
        "jsonl" | "json" | "ndjson" => parse_jsonl(&text),
        other => Err(WorkerError::EvalData(format!("unsupported extension {other:?} (use .csv or .jsonl)"))),
    }
}

pub fn parse_csv(text: &str) -> Result<Vec<Example>, WorkerError> {
    let mut records = csv_records(text)?.into_iter();
    let header = records.next().ok_or_else(|| WorkerError::EvalData("empty CSV".to_owned()))?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| WorkerError::EvalData(format!("CSV header has no {name:?} column")))
    };
    let (text_col, label_col) = (column("text")?, column("label")?);
    let mut examples = Vec::new();
    for (line, record) in records.enumerate() {
        if record.len() == 1 && record[0].is_empty() {
            continue; // blank line
        }
        let (Some(text), Some(label)) = (record.get(text_col), record.get(label_col)) else {
            return Err(WorkerError::EvalData(format!("CSV record {} is short", line + 2)));
        };
        examples.push(Example { text: text.clone(), injection: parse_label(label)? });
    }
    Ok(examples)
}

/// RFC 4180 records: quoted fields may hold commas, newlines and `""`.
fn csv_records(text: &str) -> Result<Vec<Vec<String>>, WorkerError> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => in_quotes = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(WorkerError::EvalData("CSV ends inside a quoted field".to_owned()));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

pub fn parse_jsonl(text: &str) -> Result<Vec<Example>, WorkerError> {
    let mut examples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| WorkerError::EvalData(format!("JSONL line {}: {why}", index + 1));
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let text = value.get("text").and_then(|t| t.as_str()).ok_or_else(|| bad("no string \"text\"".to_owned()))?;
        let label = match value.get("label") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Bool(b)) => b.to_string(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(bad("no \"label\"".to_owned())),
        };
        examples
            .push(Example { text: text.to_owned(), injection: parse_label(&label).map_err(|e| bad(e.to_string()))? });
    }
    Ok(examples)
}

fn parse_label(label: &str) -> Result<bool, WorkerError> {
    match label.trim().to_ascii_lowercase().as_str() {
        "1" | "1.0" | "true" | "injection" | "malicious" | "jailbreak" | "unsafe" | "attack" => Ok(true),
        "0" | "0.0" | "false" | "benign" | "safe" | "legit" | "legitimate" => Ok(false),
        other => Err(WorkerError::EvalData(format!("unknown label {other:?}"))),
    }
}

/// Metrics of `scores` against `labels` at `threshold` (flagged when
/// `score >= threshold`, like the worker).
pub fn metrics(scores: &[f32], labels: &[bool], threshold: f32) -> Metrics {
    let (mut tp, mut fp, mut tn, mut fneg) = (0, 0, 0, 0);
    for (&score, &label) in scores.iter().zip(labels) {
        match (score >= threshold, label) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fneg += 1,
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fneg);
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    Metrics {
        n: scores.len().min(labels.len()),
        threshold,
        accuracy: ratio(tp + tn, tp + tn + fp + fneg),
        precision,
        recall,
        f1,
        benign_fpr: ratio(fp, fp + tn),
        roc_auc: roc_auc(scores, labels),
        tp,
        fp,
        tn,
        r#fn: fneg,
    }
}

/// Mann-Whitney ROC AUC with average ranks for ties; 0.5 without both classes.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> f64 {
    let mut pairs: Vec<(f32, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = pairs.iter().filter(|p| p.1).count();
    let negatives = pairs.len() - positives;
    if positives == 0 || negatives == 0 {
        return 0.5;
    }
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < pairs.len() {
        let mut end = start;
        while end + 1 < pairs.len() && pairs[end + 1].0 == pairs[start].0 {
            end += 1;
        }
        // Ranks are 1-based; tied scores share the average rank.
        let average_rank = (start + end) as f64 / 2.0 + 1.0;
        let tied_positives = pairs[start..=end].iter().filter(|p| p.1).count();
        rank_sum += average_rank * tied_positives as f64;
        start = end + 1;
    }
    let positives = positives as f64;
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_handles_quotes_commas_and_newlines() {
        let data = "text,label\nplain,0\n\"a, b\",1\n\"say \"\"hi\"\"\nthen\",0\n";
        let got = parse_csv(data).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].text, "a, b");
        assert!(got[1].injection);
        assert_eq!(got[2].text, "say \"hi\"\nthen");
        assert!(parse_csv("text,label\n\"open,1\n").is_err());
        assert!(parse_csv("words,label\nx,1\n").is_err());
    }

    #[test]
    fn jsonl_labels_may_be_numbers_bools_or_names() {
        let data =
            "{\"text\":\"a\",\"label\":1}\n\n{\"text\":\"b\",\"label\":\"benign\"}\n{\"text\":\"c\",\"label\":true}\n";
        let got = parse_jsonl(data).unwrap();
        assert_eq!(got.iter().map(|e| e.injection).collect::<Vec<_>>(), [true, false, true]);
        assert!(parse_jsonl("{\"text\":\"a\",\"label\":\"maybe\"}").is_err());
    }

    #[test]
    fn metrics_and_auc() {
        let scores = [0.9, 0.8, 0.3, 0.1];
        let labels = [true, false, true, false];
        let m = metrics(&scores, &labels, 0.5);
        assert_eq!((m.tp, m.fp, m.tn, m.r#fn), (1, 1, 1, 1));
        assert!((m.accuracy - 0.5).abs() < 1e-12);
        assert!((m.benign_fpr - 0.5).abs() < 1e-12);
        assert!((roc_auc(&scores, &labels) - 0.75).abs() < 1e-12);
        assert!((roc_auc(&[0.5, 0.5], &[true, false]) - 0.5).abs() < 1e-12);
        assert!((roc_auc(&[0.1, 0.9], &[false, true]) - 1.0).abs() < 1e-12);
    }
}
