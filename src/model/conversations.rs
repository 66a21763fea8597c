//! Volume-driven traffic: routes with `per_user_per_month` (AI messages)
//! get their requests from conversations, not from session weights. A
//! route's conversations arrive as a non-homogeneous Poisson process with
//! the sessions' profiles and bursts, at `users x per_user_per_month / 30`
//! messages a day divided by the mean messages per conversation; each
//! belongs to one user and sends its `messages` separated by `gap`. With
//! `heavy_users`, `volume_share` of the conversations come from the heavy
//! `share` of the users.

use rand::RngExt;

use super::Slab;
use super::traffic::ArrivalRate;
use crate::scenario::{CountDist, DurationSampler, Scenario};
use crate::sim::{RngStream, SimTime};

/// One volume-driven route's conversations.
#[derive(Clone, Debug)]
pub struct ConversationRoute {
    /// The route.
    pub route: usize,
    /// When conversations start.
    pub rate: ArrivalRate,
    messages: CountDist,
    gap: Option<DurationSampler>,
    /// Heavy users (the first ids) and their share of conversations.
    heavy: Option<(u32, f64)>,
}

/// A conversation in progress.
#[derive(Clone, Copy, Debug)]
struct Active {
    /// Index among the volume-driven routes.
    index: usize,
    user: u32,
    left: u32,
    /// Its number among all conversations opened, from 1.
    serial: u64,
}

/// The conversations of every volume-driven route.
#[derive(Clone, Debug)]
pub struct Conversations {
    /// Per volume-driven route.
    pub routes: Vec<ConversationRoute>,
    users: u32,
    active: Slab<Active>,
    opened: u64,
}

/// A conversation's next message.
#[derive(Clone, Copy, Debug)]
pub struct Message {
    /// The route.
    pub route: usize,
    /// The user.
    pub user: u32,
    /// The conversation's number among all opened, from 1.
    pub conversation: u64,
    /// The gap before the conversation's next message, if one follows.
    pub gap: Option<SimTime>,
}

impl Conversations {
    /// The conversations of `scenario` for `users` users.
    pub fn new(scenario: &Scenario, users: u64) -> Self {
        let routes = scenario
            .routes
            .iter()
            .enumerate()
            .filter_map(|(index, route)| {
                let volume = route.per_user_per_month?;
                let messages = route
                    .conversation
                    .map_or(CountDist::Constant(1), |c| c.messages);
                let per_day = users as f64 * volume / 30.0 / messages.mean();
                let heavy = route.heavy_users.map(|h| {
                    let heavy = (users as f64 * h.share.0).floor().max(1.0) as u32;
                    (heavy, h.volume_share.0)
                });
                Some(ConversationRoute {
                    route: index,
                    rate: ArrivalRate::per_day(scenario, per_day),
                    messages,
                    gap: route.conversation.map(|c| c.gap.sampler()),
                    heavy,
                })
            })
            .collect();
        Self {
            routes,
            users: users.min(u64::from(u32::MAX)) as u32,
            active: Slab::default(),
            opened: 0,
        }
    }

    /// A conversation of volume route `index` starts; returns its id.
    pub fn open(&mut self, index: usize, rng: &mut RngStream) -> u32 {
        let route = &self.routes[index];
        let users = self.users.max(1);
        let user = match route.heavy {
            Some((heavy, volume_share)) if heavy < users => {
                if rng.random::<f64>() < volume_share {
                    rng.random_range(0..heavy)
                } else {
                    rng.random_range(heavy..users)
                }
            }
            _ => rng.random_range(0..users),
        };
        let left = route.messages.sample(rng).max(1);
        self.opened += 1;
        self.active.insert(Active {
            index,
            user,
            left,
            serial: self.opened,
        })
    }

    /// Takes conversation `id`'s next message; closes it after its last.
    pub fn next_message(&mut self, id: u32, rng: &mut RngStream) -> Message {
        let active = self.active.get_mut(id);
        active.left -= 1;
        let (index, user, left, serial) = (active.index, active.user, active.left, active.serial);
        let route = &self.routes[index];
        let gap = if left == 0 {
            self.active.remove(id);
            None
        } else {
            Some(route.gap.as_ref().map_or(0, |g| g.sample(rng)))
        };
        Message {
            route: route.route,
            user,
            conversation: serial,
            gap,
        }
    }
}
