//! A layered drawing of a directed graph, left to right, for the HTML page
//! (written here: the page must work without network access at view time).
//!
//! The steps of a Sugiyama layout, kept simple: edges that close a cycle are
//! reversed (depth-first), nodes get the longest-path layer from the sources,
//! edges spanning several layers get a bend point per layer, the order inside
//! each layer is improved by barycentre sweeps, and layers become columns.

/// Where to draw each node and each edge.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// Per node: centre x, centre y, width, height.
    pub nodes: Vec<(f64, f64, f64, f64)>,
    /// Per edge: the points of its path, source side first.
    pub edges: Vec<Vec<(f64, f64)>>,
    pub width: f64,
    pub height: f64,
}

const ROW: f64 = 64.0;
const GAP: f64 = 110.0;
const MARGIN: f64 = 24.0;

/// Lay out `widths.len()` nodes (each `widths[i]` wide, `heights[i]` high)
/// and the `edges` between them.
pub fn layout(widths: &[f64], heights: &[f64], edges: &[(usize, usize)]) -> Layout {
    let n = widths.len();
    // 1. Reverse the edges that close a cycle (iterative depth-first search).
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, &(a, b)) in edges.iter().enumerate() {
        if a != b && a < n && b < n {
            adj[a].push(i);
        }
    }
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut reversed = vec![false; edges.len()];
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            if *k < adj[v].len() {
                let e = adj[v][*k];
                *k += 1;
                let w = edges[e].1;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => reversed[e] = true,
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    let dag: Vec<(usize, usize)> = edges
        .iter()
        .zip(&reversed)
        .filter(|((a, b), _)| a != b && *a < n && *b < n)
        .map(|(&(a, b), &r)| if r { (b, a) } else { (a, b) })
        .collect();
    // 2. Longest-path layers (Kahn's order).
    let mut indeg = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in &dag {
        indeg[b] += 1;
        out[a].push(b);
    }
    let mut layer = vec![0usize; n];
    let mut queue: std::collections::VecDeque<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    while let Some(v) = queue.pop_front() {
        for &w in &out[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indeg[w] -= 1;
            if indeg[w] == 0 {
                queue.push_back(w);
            }
        }
    }
    // 3. Bend points: a virtual node per crossed layer.
    let mut layer_of: Vec<usize> = layer.clone();
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(edges.len());
    for (i, &(a, b)) in edges.iter().enumerate() {
        if a == b || a >= n || b >= n {
            chains.push(vec![a.min(n.saturating_sub(1)), b.min(n.saturating_sub(1))]);
            continue;
        }
        let (s, t) = if reversed[i] { (b, a) } else { (a, b) };
        let mut chain = vec![s];
        for l in layer[s] + 1..layer[t] {
            layer_of.push(l);
            chain.push(layer_of.len() - 1);
        }
        chain.push(t);
        if reversed[i] {
            chain.reverse();
        }
        chains.push(chain);
    }
    let total = layer_of.len();
    let layers = layer_of.iter().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for v in 0..total {
        rows[layer_of[v]].push(v);
    }
    // Neighbours in the layer before and after, for the sweeps.
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); total];
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); total];
    for chain in &chains {
        for w in chain.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a == b {
                continue;
            }
            let (lo, hi) = if layer_of[a] < layer_of[b] {
                (a, b)
            } else {
                (b, a)
            };
            if layer_of[lo] + 1 == layer_of[hi] {
                down[lo].push(hi);
                up[hi].push(lo);
            }
        }
    }
    // 4. Barycentre sweeps.
    let mut pos = vec![0f64; total];
    for row in &rows {
        for (i, &v) in row.iter().enumerate() {
            pos[v] = i as f64;
        }
    }
    for round in 0..8 {
        let order: Vec<usize> = if round % 2 == 0 {
            (1..layers).collect()
        } else {
            (0..layers.saturating_sub(1)).rev().collect()
        };
        for l in order {
            let row = &mut rows[l];
            let key: Vec<(f64, usize)> = row
                .iter()
                .map(|&v| {
                    let nb = if round % 2 == 0 { &up[v] } else { &down[v] };
                    let b = if nb.is_empty() {
                        pos[v]
                    } else {
                        nb.iter().map(|&u| pos[u]).sum::<f64>() / nb.len() as f64
                    };
                    (b, v)
                })
                .collect();
            let mut sorted = key;
            sorted.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            *row = sorted.into_iter().map(|(_, v)| v).collect();
            for (i, &v) in row.iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    }
    // 5. Columns: each layer as wide as its widest node; rows centred.
    let width_of = |v: usize| if v < n { widths[v] } else { 8.0 };
    let height_of = |v: usize| {
        if v < n {
            heights[v].max(ROW - 16.0)
        } else {
            8.0
        }
    };
    let mut x = MARGIN;
    let mut xs = vec![0f64; layers];
    for (l, row) in rows.iter().enumerate() {
        let w = row.iter().map(|&v| width_of(v)).fold(0f64, f64::max);
        xs[l] = x + w / 2.0;
        x += w + GAP;
    }
    let tallest = rows
        .iter()
        .map(|r| r.iter().map(|&v| height_of(v) + 16.0).sum::<f64>())
        .fold(0f64, f64::max);
    let mut centre = vec![(0f64, 0f64); total];
    for (l, row) in rows.iter().enumerate() {
        let h: f64 = row.iter().map(|&v| height_of(v) + 16.0).sum();
        let mut y = MARGIN + (tallest - h) / 2.0;
        for &v in row {
            let hv = height_of(v) + 16.0;
            centre[v] = (xs[l], y + hv / 2.0);
            y += hv;
        }
    }
    let nodes = (0..n)
        .map(|v| (centre[v].0, centre[v].1, widths[v], heights[v]))
        .collect();
    let edges = chains
        .iter()
        .zip(edges)
        .map(|(chain, &(a, b))| {
            if a == b && a < n {
                // A loop: out of the right side and back in at the top.
                let (cx, cy, w, h) = (centre[a].0, centre[a].1, widths[a], heights[a]);
                return vec![
                    (cx + w / 2.0, cy),
                    (cx + w / 2.0 + 24.0, cy - h),
                    (cx, cy - h / 2.0),
                ];
            }
            chain.iter().map(|&v| centre[v]).collect()
        })
        .collect();
    Layout {
        nodes,
        edges,
        width: x - GAP + MARGIN,
        height: tallest + 2.0 * MARGIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_follow_the_edges_and_cycles_are_drawn() {
        let l = layout(
            &[50.0; 4],
            &[30.0; 4],
            &[(0, 1), (1, 2), (2, 0), (0, 3), (3, 3)],
        );
        assert_eq!(l.nodes.len(), 4);
        assert_eq!(l.edges.len(), 5);
        assert!(l.nodes[0].0 < l.nodes[1].0 && l.nodes[1].0 < l.nodes[2].0);
        assert!(l.edges.iter().all(|e| e.len() >= 2));
        assert!(l.width > 0.0 && l.height > 0.0);
    }
}
