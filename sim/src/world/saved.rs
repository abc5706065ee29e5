//! What a snapshot keeps of a [`World`] where that is not simply its fields: serde helpers
//! for the fields whose exact layout matters later and is not in their values alone.
//!
//! - The topology graph ([`Topology`]): petgraph's own serialization re-links edges by index
//!   and rebuilds the free lists in index order, but later node indices (the free list) and
//!   path searches (each node's edge list, newest first) depend on the order things were added
//!   and removed. Kept here: every slot, the order free slots are reused in, and the edges in
//!   the order they were made.
//! - ENIs' compiled rule lists ([`enis`]): shared between ENIs with equal lists; each shared
//!   list is written once and compiled once on load.
//! - Hash maps ([`map`]): written in key order, so that a snapshot is a function of the state
//!   and not of the map's history; read back with the world's fixed hasher.
//!
//! Not here: anything that changes what a world does. A world read back is the world written.

use std::sync::Arc;

use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableUnGraph};

use super::model::{Map, map};
use super::*;
use crate::policy::classify::Classifier;
use crate::verdict::By;

/// The world's topology graph, which adds what petgraph does not show and a snapshot needs
/// to rebuild its exact layout: how many node slots it has (petgraph's `node_bound` stops at
/// the last live node; slots freed after it are still in its free list), and the order its
/// edges were added in (each edge weighs its link number). Reads go to the graph itself
/// (`Deref`); nodes and edges are added here, with the same calls as on the graph.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    graph: StableUnGraph<Node, u64>,
    /// Node slots ever made: every index `add_node` returned is below.
    slots: usize,
    /// Edges ever added (the last one's link number).
    links: u64,
}

impl Topology {
    pub fn add_node(&mut self, node: Node) -> NodeIndex {
        let n = self.graph.add_node(node);
        self.slots = self.slots.max(n.index() + 1);
        n
    }

    /// `StableGraph::add_edge` of an unweighted graph: the edge's weight is its link number.
    pub fn add_edge(&mut self, a: NodeIndex, b: NodeIndex, _: ()) -> EdgeIndex {
        self.links += 1;
        self.graph.add_edge(a, b, self.links)
    }
}

impl std::ops::Deref for Topology {
    type Target = StableUnGraph<Node, u64>;
    fn deref(&self) -> &Self::Target {
        &self.graph
    }
}

impl std::ops::DerefMut for Topology {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.graph
    }
}

/// A topology as a snapshot keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedTopology {
    /// Every slot: `None` for a free one.
    slots: Vec<Option<Node>>,
    /// Free slots in the order `add_node` takes them.
    free: Vec<u32>,
    /// (a, b, link number) by link number: `add_edge(a, b)` in this order rebuilds every
    /// node's edge list as it was (newest first).
    edges: Vec<(u32, u32, u64)>,
    links: u64,
}

impl serde::Serialize for Topology {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let g = &self.graph;
        let slots: Vec<Option<Node>> = (0..self.slots)
            .map(|i| g.node_weight(NodeIndex::new(i)).cloned())
            .collect();
        // The free list is private: taking its slots from a copy tells its order.
        let mut probe = g.clone();
        let free = (0..self.slots - g.node_count())
            .map(|_| probe.add_node(Node::Internet).index() as u32)
            .collect();
        let mut edges: Vec<(u32, u32, u64)> = g
            .edge_indices()
            .filter_map(|e| {
                let (a, b) = g.edge_endpoints(e)?;
                Some((a.index() as u32, b.index() as u32, g[e]))
            })
            .collect();
        edges.sort_by_key(|&(_, _, link)| link);
        SavedTopology {
            slots,
            free,
            edges,
            links: self.links,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Topology {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Topology, D::Error> {
        use serde::de::Error;
        let saved = SavedTopology::deserialize(d)?;
        let mut g = StableUnGraph::with_capacity(saved.slots.len(), saved.edges.len());
        let holes = saved.slots.iter().filter(|s| s.is_none()).count();
        if holes != saved.free.len() {
            return Err(D::Error::custom(
                "a topology whose free slots do not add up",
            ));
        }
        for slot in &saved.slots {
            // A free slot is filled for now and freed below, in the order it was.
            g.add_node(slot.clone().unwrap_or(Node::Internet));
        }
        let live = |i: u32| saved.slots.get(i as usize).is_some_and(Option::is_some);
        for &(a, b, link) in &saved.edges {
            if !live(a) || !live(b) || link > saved.links {
                return Err(D::Error::custom("a topology edge to a free slot"));
            }
            g.add_edge(NodeIndex::new(a as usize), NodeIndex::new(b as usize), link);
        }
        // `remove_node` puts a slot first in the free list: the first to be taken goes last.
        for &i in saved.free.iter().rev() {
            if saved.slots.get(i as usize).is_none_or(Option::is_some) {
                return Err(D::Error::custom("a topology free list naming a used slot"));
            }
            g.remove_node(NodeIndex::new(i as usize));
        }
        Ok(Topology {
            graph: g,
            slots: saved.slots.len(),
            links: saved.links,
        })
    }
}

/// `Vec<Eni>` with each distinct compiled rule list once: see the module doc.
pub mod enis {
    use std::collections::HashMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Arc, By, Classifier, Eni};

    pub fn serialize<S: Serializer>(enis: &[Eni], s: S) -> Result<S::Ok, S::Error> {
        let mut index: HashMap<*const Classifier<By>, u32> = HashMap::new();
        let mut lists: Vec<&Classifier<By>> = Vec::new();
        let mut refs = Vec::with_capacity(enis.len());
        for e in enis {
            let r = e.rules.each_ref().map(|c| {
                *index.entry(Arc::as_ptr(c)).or_insert_with(|| {
                    lists.push(c);
                    lists.len() as u32 - 1
                })
            });
            refs.push((e, r));
        }
        (lists, refs).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Eni>, D::Error> {
        use serde::de::Error;
        let (lists, refs) = <(Vec<Classifier<By>>, Vec<(Eni, [u32; 2])>)>::deserialize(d)?;
        let lists: Vec<Arc<Classifier<By>>> = lists.into_iter().map(Arc::new).collect();
        refs.into_iter()
            .map(|(mut e, r)| {
                for (slot, i) in e.rules.iter_mut().zip(r) {
                    *slot = lists
                        .get(i as usize)
                        .ok_or_else(|| D::Error::custom("an ENI naming a rule list not saved"))?
                        .clone();
                }
                Ok(e)
            })
            .collect()
    }
}

/// A [`Map`] in key order, read back with the world's hasher: see the module doc.
pub mod map {
    use std::hash::Hash;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Map;

    pub fn serialize<S, K, V>(m: &Map<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        K: Serialize + Ord,
        V: Serialize,
    {
        let mut pairs: Vec<(&K, &V)> = m.iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        pairs.serialize(s)
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<Map<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
    {
        let pairs = Vec::<(K, V)>::deserialize(d)?;
        let mut m = super::map();
        m.reserve(pairs.len());
        m.extend(pairs);
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use petgraph::stable_graph::NodeIndex;

    use super::*;

    /// Every node's neighbours in the order a search visits them.
    fn adjacency(t: &Topology) -> Vec<(usize, Vec<usize>)> {
        t.node_indices()
            .map(|n| (n.index(), t.neighbors(n).map(|m| m.index()).collect()))
            .collect()
    }

    /// A topology read back from a snapshot has the same slots, visits every node's edges in
    /// the same order (path searches break ties by it), and gives out the same slots next,
    /// after a history of removals that leaves freed slots in the middle and at the end and
    /// edges whose indices no longer follow the order they were added in.
    #[test]
    fn a_topology_comes_back_with_its_layout() {
        let mut t = Topology::default();
        let hub = t.add_node(Node::Internet);
        let n: Vec<NodeIndex> = (0..12).map(|i| t.add_node(Node::Vpc(i))).collect();
        for (i, &a) in n.iter().enumerate() {
            t.add_edge(a, hub, ());
            if i % 3 == 0 {
                t.add_edge(hub, n[(i + 5) % n.len()], ());
            }
        }
        // Free slots in the middle and at the end, in an order that is not index order; then
        // new edges take the freed edge slots.
        for i in [4, 11, 1, 10, 7] {
            t.remove_node(n[i]);
        }
        let late = t.add_node(Node::Subnet(99));
        t.add_edge(n[2], late, ());
        t.add_edge(late, hub, ());
        t.add_edge(n[3], n[2], ());

        let bytes = postcard::to_stdvec(&t).unwrap();
        let mut back: Topology = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(adjacency(&back), adjacency(&t));
        assert_eq!(postcard::to_stdvec(&back).unwrap(), bytes);
        for i in 0..6 {
            let (a, b) = (t.add_node(Node::Eni(i)), back.add_node(Node::Eni(i)));
            assert_eq!(a, b, "new node {i}");
            t.add_edge(a, hub, ());
            back.add_edge(b, hub, ());
        }
        assert_eq!(adjacency(&back), adjacency(&t));
    }
}
