//! What one page of an index becomes, for the health round and the metrics round alike.

use crate::HealthTask;

/// What one page of an index becomes: its due items in tasks of `per_task`, then the task
/// reading the next page, if there is one. Health checks and metrics readings page the same way.
pub(crate) fn page_tasks<T: Clone>(
    due: &[T],
    per_task: usize,
    work: impl Fn(Vec<T>) -> HealthTask,
    next_page: Option<HealthTask>,
) -> Vec<HealthTask> {
    due.chunks(per_task)
        .map(|chunk| work(chunk.to_vec()))
        .chain(next_page)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use connector::domain::posts::PostId;
    use connector::domain::TenantId;

    #[test]
    fn a_page_becomes_tasks_of_its_size_then_the_next_page() {
        let as_of = Utc::now();
        let tenant = TenantId::parse("acme").unwrap();
        let posts = |n: usize| -> Vec<(TenantId, PostId)> {
            (0..n).map(|_| (tenant.clone(), PostId::new())).collect()
        };
        let next = || HealthTask::MetricsPage {
            shard: 3,
            as_of,
            cursor: Some("c".into()),
        };
        // (due, a next page, the sizes of the reading tasks, ends with the next page)
        let rows = [
            (0, false, vec![], false),
            (0, true, vec![], true),
            (25, false, vec![25], false),
            (26, true, vec![25, 1], true),
            (60, false, vec![25, 25, 10], false),
        ];
        for (i, (n, more, sizes, paged)) in rows.into_iter().enumerate() {
            let due = posts(n);
            let tasks = page_tasks(
                &due,
                25,
                |posts| HealthTask::MetricsRead { as_of, posts },
                more.then(next),
            );
            let read: Vec<usize> = tasks
                .iter()
                .filter_map(|t| match t {
                    HealthTask::MetricsRead { posts, .. } => Some(posts.len()),
                    _ => None,
                })
                .collect();
            assert_eq!(read, sizes, "row {i}");
            assert_eq!(tasks.last() == Some(&next()), paged, "row {i}");
            let flattened: Vec<_> = tasks
                .iter()
                .flat_map(|t| match t {
                    HealthTask::MetricsRead { posts, .. } => posts.clone(),
                    _ => vec![],
                })
                .collect();
            assert_eq!(flattened, due, "row {i}: every due post once, in order");
        }
    }
}
