//! The writer's counters, read from the instance's `/metrics`.

/// The writer's counters at one moment.
#[derive(Debug, Default, Clone)]
pub(super) struct Writer {
    pub batches: u64,
    pub changes: u64,
    /// Cumulative batch-size buckets: (upper bound, as labelled; count).
    pub buckets: Vec<(String, u64)>,
}

pub(super) async fn scrape(http: &reqwest::Client, base: &str) -> anyhow::Result<Writer> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(parse(&text))
}

fn parse(text: &str) -> Writer {
    let mut writer = Writer::default();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        // The name, before its labels if it has any.
        let name = series.split('{').next().unwrap_or(series);
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        match name {
            "ixs_writer_batches_total" => writer.batches = value,
            "ixs_writer_changes_total" => writer.changes = value,
            "ixs_writer_batch_size_bucket" => {
                if let Some(le) = series
                    .split("le=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                {
                    writer.buckets.push((le.to_owned(), value));
                }
            }
            _ => {}
        }
    }
    writer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_writer_counters_and_buckets() {
        let writer = parse(
            "# HELP ixs_writer_batches_total x\n\
             ixs_writer_batches_total{instance=\"sales\"} 12\n\
             ixs_writer_changes_total 40\n\
             ixs_writer_batch_size_bucket{le=\"1\"} 3\n\
             ixs_writer_batch_size_bucket{le=\"+Inf\"} 12\n",
        );
        assert_eq!((writer.batches, writer.changes), (12, 40));
        assert_eq!(
            writer.buckets,
            vec![("1".to_owned(), 3), ("+Inf".to_owned(), 12)]
        );
    }
}
