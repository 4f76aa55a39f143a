//! SWE-bench Full (the 2,294-row test split): SWE-bench's schema, images and rules; its rows are
//! graded exactly as Verified's are (their `set` stays empty), with every repository's specs
//! (`crate::specs`: the 12 repositories and all their versions in the official tables).

use protege_datasets::hub::HubSplit;

use super::TaskSetRules;

pub struct Full;

impl TaskSetRules for Full {
    fn name(&self) -> &'static str {
        "full"
    }

    fn about(&self) -> &'static str {
        "SWE-bench Full: 2,294 tasks, 12 repositories; SWE-bench's schema, images and grading"
    }

    fn hub(&self) -> Option<HubSplit> {
        Some(HubSplit {
            dataset: "princeton-nlp/SWE-bench",
            config: "default",
            split: "test",
        })
    }
}
