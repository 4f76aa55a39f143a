//! The policies that need no model: `gold` (the dataset's own fix), `empty` (no change) and
//! `replay:PATH` (a SWE-bench predictions file).

use std::path::Path;

use async_trait::async_trait;
use protege_datasets::Task;
use protege_datasets::prediction::{self, Predictions};
use protege_sandboxes::Sandbox;

use crate::{Attempt, Policy, PolicyError};

pub struct Gold;
pub struct Empty;

pub struct Replay {
    name: String,
    pub predictions: Predictions,
}

#[async_trait]
impl Policy for Gold {
    fn name(&self) -> String {
        "gold".into()
    }
    async fn solve(&self, task: &Task, _: Option<&dyn Sandbox>) -> Result<Attempt, PolicyError> {
        Ok(Attempt {
            patch: Some(task.patch.clone()),
            ..Default::default()
        })
    }
}

#[async_trait]
impl Policy for Empty {
    fn name(&self) -> String {
        "empty".into()
    }
    async fn solve(&self, _: &Task, _: Option<&dyn Sandbox>) -> Result<Attempt, PolicyError> {
        Ok(Attempt {
            patch: Some(String::new()),
            ..Default::default()
        })
    }
}

impl Replay {
    pub fn load(path: &Path) -> Result<Replay, PolicyError> {
        let predictions = prediction::load(path).map_err(|e| PolicyError::Config(e.to_string()))?;
        Ok(Replay {
            name: format!("replay:{}", path.display()),
            predictions,
        })
    }
}

#[async_trait]
impl Policy for Replay {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn instances(&self) -> Option<Vec<String>> {
        let mut ids: Vec<String> = self.predictions.by_id.keys().cloned().collect();
        ids.sort();
        Some(ids)
    }
    async fn solve(&self, task: &Task, _: Option<&dyn Sandbox>) -> Result<Attempt, PolicyError> {
        match self.predictions.by_id.get(&task.instance_id) {
            Some(p) => Ok(Attempt {
                patch: p.model_patch.clone(),
                ..Default::default()
            }),
            None => Ok(Attempt {
                patch: None,
                note: Some("no prediction for this instance".into()),
                ..Default::default()
            }),
        }
    }
}

/// Builds a policy from its command-line name: `gold`, `empty`, `replay:PATH`.
pub fn from_name(name: &str) -> Result<Box<dyn Policy>, PolicyError> {
    match name {
        "gold" => Ok(Box::new(Gold)),
        "empty" => Ok(Box::new(Empty)),
        _ => match name.strip_prefix("replay:") {
            Some(path) if !path.is_empty() => Ok(Box::new(Replay::load(Path::new(path))?)),
            _ => Err(PolicyError::Config(format!(
                "unknown policy `{name}`: expected gold, empty, replay:PATH, agent or agentless"
            ))),
        },
    }
}
