//! How seats move between a section's stripes (`storage::capacity`): the arithmetic of a
//! rebalance and of a resize, kept apart from the SQL so it can be tested on its own.
//!
//! A move `(stripe, delta)` adds `delta` to both the stripe's `total` and its `available`: only
//! available seats ever move, so held and sold seats stay in the stripe their hold names, and
//! every stripe keeps `available + reserved + sold = total`.

/// A hold of `quantity` seats that no single stripe can satisfy: `stripes` are `(stripe,
/// available)`, all locked. Returns the stripe that will have the seats (the fullest one) and the
/// moves that fill it from the fullest others, or `None` when the section as a whole has fewer
/// than `quantity` available seats. No moves when the fullest stripe already has them (its lock
/// was only busy a moment ago).
pub fn plan_rebalance(stripes: &[(i16, i32)], quantity: i32) -> Option<(i16, Vec<(i16, i32)>)> {
    let available: i64 = stripes.iter().map(|&(_, a)| i64::from(a)).sum();
    if available < i64::from(quantity) {
        return None;
    }
    let &(target, has) = stripes.iter().max_by_key(|&&(s, a)| (a, std::cmp::Reverse(s)))?;
    let mut need = quantity - has;
    if need <= 0 {
        return Some((target, Vec::new()));
    }
    let mut moves = vec![(target, need)];
    moves.extend(take_from_fullest(stripes.iter().copied().filter(|&(s, _)| s != target), &mut need));
    Some((target, moves))
}

/// A resize by `delta` sellable seats: growth is spread evenly over the stripes (the first ones
/// get the remainder), shrinking takes available seats from the fullest stripes first. `None`
/// when shrinking needs more seats than are available (the service checks that before).
pub fn plan_resize(stripes: &[(i16, i32)], delta: i32) -> Option<Vec<(i16, i32)>> {
    if delta >= 0 {
        let n = i32::try_from(stripes.len()).ok().filter(|&n| n > 0)?;
        let moves = stripes
            .iter()
            .enumerate()
            .map(|(i, &(s, _))| (s, delta / n + i32::from(i32::try_from(i).unwrap_or(i32::MAX) < delta % n)))
            .filter(|&(_, d)| d != 0)
            .collect();
        return Some(moves);
    }
    let mut need = -delta;
    let moves = take_from_fullest(stripes.iter().copied(), &mut need);
    (need == 0).then_some(moves)
}

/// Negative moves taking up to `need` available seats, fullest stripe first; `need` is left at
/// what could not be found.
fn take_from_fullest(stripes: impl Iterator<Item = (i16, i32)>, need: &mut i32) -> Vec<(i16, i32)> {
    let mut donors: Vec<(i16, i32)> = stripes.filter(|&(_, a)| a > 0).collect();
    donors.sort_by_key(|&(s, a)| (std::cmp::Reverse(a), s));
    let mut moves = Vec::new();
    for (s, a) in donors {
        if *need == 0 {
            break;
        }
        let x = a.min(*need);
        moves.push((s, -x));
        *need -= x;
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(stripes: &[(i16, i32)], moves: &[(i16, i32)]) -> Vec<(i16, i32)> {
        stripes.iter().map(|&(s, a)| (s, a + moves.iter().filter(|m| m.0 == s).map(|m| m.1).sum::<i32>())).collect()
    }

    #[test]
    fn a_rebalance_fills_the_fullest_stripe_from_the_others_and_keeps_the_seats() {
        let stripes = [(0, 3), (1, 5), (2, 0), (3, 4)];
        let (target, moves) = plan_rebalance(&stripes, 10).unwrap();
        assert_eq!(target, 1);
        let after = apply(&stripes, &moves);
        assert_eq!(after.iter().find(|s| s.0 == 1).unwrap().1, 10);
        assert_eq!(after.iter().map(|s| s.1).sum::<i32>(), 12, "seats are moved, never made");
        assert!(after.iter().all(|s| s.1 >= 0));
        assert_eq!(moves.iter().map(|m| m.1).sum::<i32>(), 0);
    }

    #[test]
    fn a_rebalance_refuses_what_the_section_does_not_have_and_moves_nothing_when_not_needed() {
        assert_eq!(plan_rebalance(&[(0, 3), (1, 5)], 9), None);
        assert_eq!(plan_rebalance(&[(0, 3), (1, 5)], 5), Some((1, vec![])));
        assert_eq!(plan_rebalance(&[(0, 0)], 1), None);
        assert_eq!(plan_rebalance(&[(0, 2), (1, 2)], 4), Some((0, vec![(0, 2), (1, -2)])));
    }

    #[test]
    fn a_resize_spreads_growth_evenly_and_takes_shrinkage_from_the_fullest() {
        assert_eq!(plan_resize(&[(0, 1), (1, 1), (2, 1)], 7), Some(vec![(0, 3), (1, 2), (2, 2)]));
        assert_eq!(plan_resize(&[(0, 1), (1, 9), (2, 4)], -11), Some(vec![(1, -9), (2, -2)]));
        assert_eq!(plan_resize(&[(0, 1), (1, 2)], -4), None);
        assert_eq!(plan_resize(&[(0, 1)], 0), Some(vec![]));
    }
}
