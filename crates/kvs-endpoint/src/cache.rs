//! A small TTL cache where concurrent lookups of one key share a single fetch.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

type Slot = Arc<OnceCell<(String, Instant)>>;

pub(crate) struct TtlCache<K> {
    ttl: Duration,
    slots: Mutex<HashMap<K, Slot>>,
}

impl<K: Eq + Hash + Clone> TtlCache<K> {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The cached value for `key`, or the result of `fetch`; a failed fetch caches nothing.
    pub(crate) async fn get_or_fetch<E, F, Fut>(&self, key: &K, fetch: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, E>>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.entry(key.clone()).or_default();
            if slot.get().is_some_and(|(_, at)| at.elapsed() >= self.ttl) {
                *slot = Slot::default();
            }
            slot.clone()
        };
        let (value, _) = slot
            .get_or_try_init(|| async { fetch().await.map(|v| (v, Instant::now())) })
            .await?;
        Ok(value.clone())
    }

    /// Forgets `key`, so the next lookup fetches again (after the endpoint stopped answering).
    pub(crate) fn invalidate(&self, key: &K) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_lookups_share_one_fetch_and_expire() {
        let cache = Arc::new(TtlCache::new(Duration::from_millis(200)));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(&"k", || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, ()>("v".to_owned())
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "v");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        cache
            .get_or_fetch(&"k", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>("v2".to_owned())
            })
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_are_not_cached() {
        let cache = TtlCache::new(Duration::from_secs(60));
        let err = cache
            .get_or_fetch(&1, || async { Err::<String, _>("down") })
            .await;
        assert_eq!(err, Err("down"));
        let ok = cache
            .get_or_fetch(&1, || async { Ok::<_, &str>("up".to_owned()) })
            .await;
        assert_eq!(ok, Ok("up".to_owned()));
        cache.invalidate(&1);
        let again = cache
            .get_or_fetch(&1, || async { Ok::<_, &str>("again".to_owned()) })
            .await;
        assert_eq!(again, Ok("again".to_owned()));
    }
}
