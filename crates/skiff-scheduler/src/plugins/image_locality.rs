//! ImageLocality: prefers nodes that already have the pod's images, weighted by image size
//! and by how few nodes have them.

use crate::framework::{CycleState, Plugin, PreScore, Score, Status, MAX_NODE_SCORE};
use crate::pod_info::PodInfo;
use crate::snapshot::{ImageStateSummary, NodeInfo, Snapshot};

/// The image-locality scorer (upstream `imagelocality.ImageLocality`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ImageLocality;

/// What Score needs, computed once per cycle: the cluster size (upstream reads it from the
/// snapshot at Score time), the pod's normalized image names and its container count.
#[derive(Clone)]
struct PreScoreState {
    total_nodes: usize,
    images: Vec<String>,
    containers: usize,
}

const MB: i64 = 1024 * 1024;
/// Upstream `minThreshold`: images smaller than 23 MB hardly matter.
pub const MIN_THRESHOLD: i64 = 23 * MB;
/// Upstream `maxContainerThreshold`: 1000 MB per container saturates the score.
pub const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

impl ImageLocality {
    /// Upstream plugin name.
    pub const NAME: &'static str = "ImageLocality";
}

/// Upstream `normalizedImageName`: appends `:latest` when the name has no tag or digest.
pub fn normalized_image_name(name: &str) -> String {
    let colon = name.rfind(':');
    let slash = name.rfind('/');
    if colon.is_none() || colon < slash {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

fn scaled_image_score(state: &ImageStateSummary, total_nodes: usize) -> i64 {
    if total_nodes == 0 {
        return 0;
    }
    let spread = state.num_nodes as f64 / total_nodes as f64;
    (state.size as f64 * spread) as i64
}

/// Upstream `calculatePriority`.
fn calculate_priority(sum: i64, containers: usize) -> i64 {
    let max = MAX_CONTAINER_THRESHOLD.saturating_mul(containers as i64);
    let sum = if sum < MIN_THRESHOLD {
        MIN_THRESHOLD
    } else {
        sum.min(max)
    };
    let range = max - MIN_THRESHOLD;
    if range <= 0 {
        return 0;
    }
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / range
}

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

impl PreScore for ImageLocality {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        let containers: Vec<_> = pod
            .pod
            .spec
            .iter()
            .flat_map(|s| {
                s.init_containers
                    .iter()
                    .flatten()
                    .chain(s.containers.iter())
            })
            .collect();
        state.write(PreScoreState {
            total_nodes: snapshot.nodes().len().max(1),
            images: containers
                .iter()
                .filter_map(|c| c.image.as_deref())
                .map(normalized_image_name)
                .collect(),
            containers: containers.len(),
        });
        Status::success()
    }
}

impl Score for ImageLocality {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(pre) = state.read::<PreScoreState>() else {
            return Err(Status::error(format!(
                "{}: PreScore state missing",
                Self::NAME
            )));
        };
        let images = node.image_states();
        let sum: i64 = if images.is_empty() {
            0
        } else {
            pre.images
                .iter()
                .filter_map(|img| images.get(img))
                .map(|s| scaled_image_score(s, pre.total_nodes))
                .sum()
        };
        Ok(calculate_priority(sum, pre.containers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, pod, score_all};

    #[test]
    fn image_names_get_latest_unless_tagged() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("nginx:1.25"), "nginx:1.25");
        assert_eq!(
            normalized_image_name("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            normalized_image_name("localhost:5000/app:v1"),
            "localhost:5000/app:v1"
        );
    }

    #[test]
    fn nodes_with_big_images_score_higher() {
        let nodes = [
            node("has").image("app:v1", 500 * MB).build(),
            node("none").build(),
        ];
        let p = pod("p").image("app:v1").build();
        // 500MB present on 1 of 2 nodes -> 250MB; (250-23)*100/(1000-23) = 23.
        assert_eq!(
            score_all(&ImageLocality, &p, &nodes, &[]),
            vec![("has", 23), ("none", 0)]
        );
    }
}
