//! The router's configuration from what the instance may read of the
//! tenant and from its `[routing]` settings: each enabled view with its
//! parsed condition, order, aging and strategy, each agent with its skills,
//! groups and capacity rule, and the timers. Built for every revision, so
//! that a target that does not parse is refused with its place, as a view
//! condition is.

use crate::directory::{self, Directory};
use crate::engine::routing::{
    self, AgentProfile, Aging, Capacity, Dispatch, Exhausted, OrderField, OrderKey, RoutingConfig,
    Select, Step, Strategy, Timing, View,
};
use crate::settings::RoutingSettings;
use anyhow::Context;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What an agent may hold when its person names no capacity rule:
/// `routing.default_capacity`, or else one interaction of each media type
/// the instance may read.
fn default_capacity(directory: &Directory, settings: &RoutingSettings) -> Capacity {
    match &settings.default_capacity {
        Some(rule) => Capacity {
            media: rule.media.clone(),
            total: rule.total,
        },
        None => Capacity {
            media: directory
                .media_types
                .keys()
                .map(|media| (media.clone(), 1))
                .collect(),
            total: None,
        },
    }
}

/// A duration of the settings as the router counts time; the settings are
/// validated to at most [`RoutingSettings::MAX_TIMER`].
fn span(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The router's timers and limits from the `[routing]` settings.
fn timing(settings: &RoutingSettings) -> Timing {
    Timing {
        delivery_timeout: span(settings.delivery_timeout),
        missed_offers_limit: settings.missed_offers_limit,
        after_work: settings
            .after_work
            .iter()
            .map(|(media, duration)| (media.clone(), span(*duration)))
            .collect(),
        desktop_grace: span(settings.desktop_grace),
        handling_timeout: span(settings.handling_timeout),
        routing_timeout: span(settings.routing_timeout),
    }
}

fn aging(aging: directory::Aging) -> Aging {
    Aging {
        points: i64::from(aging.points),
        per: span(aging.per.as_duration()),
    }
}

fn select(select: directory::Select) -> Select {
    match select {
        directory::Select::LongestIdle => Select::LongestIdle,
        directory::Select::LeastBusy => Select::LeastBusy,
        directory::Select::RoundRobin => Select::RoundRobin,
        directory::Select::LastAgent => Select::LastAgent,
    }
}

fn order(keys: &[directory::OrderKey]) -> Vec<OrderKey> {
    keys.iter()
        .map(|key| OrderKey {
            field: match key.field {
                directory::OrderField::Priority => OrderField::Priority,
                directory::OrderField::SubmittedAt => OrderField::SubmittedAt,
                directory::OrderField::PlacedInQueueAt => OrderField::PlacedInQueueAt,
                directory::OrderField::Id => OrderField::Id,
            },
            descending: key.direction == directory::Direction::Desc,
        })
        .collect()
}

fn strategy(process: &str, name: &str, def: &directory::Strategy) -> anyhow::Result<Strategy> {
    let steps = def
        .steps
        .iter()
        .enumerate()
        .map(|(n, step)| {
            let target = crate::expr::parse(&step.target).with_context(|| {
                format!(
                    "business process '{process}', strategy '{name}', step {}: invalid target",
                    n + 1
                )
            })?;
            // A step longer than the longest timer the settings allow waits
            // that long: the router adds it to the time, which must not
            // overflow.
            let timeout = span(step.timeout.as_duration().min(RoutingSettings::MAX_TIMER));
            Ok(Step::new(target, select(step.select), timeout))
        })
        .collect::<anyhow::Result<Vec<Step>>>()?;
    Ok(Strategy {
        name: name.to_owned(),
        steps,
        on_exhausted: match &def.on_exhausted {
            directory::OnExhausted::PlaceInQueue(queue) => Exhausted::PlaceInQueue(queue.clone()),
            directory::OnExhausted::Stop(reason) => Exhausted::Stop(reason.clone()),
        },
    })
}

/// The router's configuration for `directory` (already filtered to what the
/// instance may read), with the instance's `[routing]` settings.
pub fn config(directory: &Directory, settings: &RoutingSettings) -> anyhow::Result<RoutingConfig> {
    let mut views = Vec::new();
    for (process_name, process) in &directory.processes {
        let mut strategies: BTreeMap<&str, Arc<Strategy>> = BTreeMap::new();
        for (name, def) in &process.strategies {
            strategies.insert(name, Arc::new(strategy(process_name, name, def)?));
        }
        for (queue_name, queue) in &process.queues {
            for (view_name, view) in &queue.views {
                // Every view is checked, enabled or not.
                let condition = crate::expr::parse(&view.condition).with_context(|| {
                    format!(
                        "business process '{process_name}', queue '{queue_name}', view \
                         '{view_name}': invalid condition"
                    )
                })?;
                let dispatch = match &view.dispatch {
                    directory::Dispatch::Strategy(name) => match strategies.get(name.as_str()) {
                        Some(strategy) => Dispatch::Strategy(strategy.clone()),
                        None => anyhow::bail!(
                            "business process '{process_name}', view '{view_name}': unknown \
                             strategy '{name}'"
                        ),
                    },
                    directory::Dispatch::Pull => Dispatch::Pull,
                    directory::Dispatch::SnapshotOnly => continue,
                };
                if !view.enabled {
                    continue;
                }
                views.push(Arc::new(View {
                    process: process_name.clone(),
                    queue: queue_name.clone(),
                    name: view_name.clone(),
                    condition,
                    order: order(&view.order),
                    aging: view.aging.map(aging),
                    dispatch,
                }));
            }
        }
    }
    let fallback = default_capacity(directory, settings);
    let agents = directory
        .persons
        .values()
        .filter_map(|person| {
            let profile = person.agent.as_ref()?;
            let capacity = profile
                .capacity_rule
                .as_ref()
                .and_then(|rule| directory.capacity_rules.get(rule))
                .map(|rule| Capacity {
                    media: rule.media.clone().into_iter().collect(),
                    total: rule.total,
                })
                .unwrap_or_else(|| fallback.clone());
            let groups = directory
                .access_groups
                .values()
                .filter(|group| group.members.contains(&person.name))
                .map(|group| group.name.clone())
                .collect();
            Some((
                person.name.clone(),
                AgentProfile {
                    name: person.name.clone(),
                    skills: profile.skills.clone().into_iter().collect(),
                    groups,
                    capacity,
                },
            ))
        })
        .collect();
    Ok(routing::RoutingConfig {
        views,
        agents,
        timing: timing(settings),
        group_workbins: directory
            .processes
            .iter()
            .flat_map(|(process, def)| {
                def.workbins
                    .iter()
                    .filter(|(_, w)| w.owner == directory::WorkbinOwner::AgentGroup)
                    .map(move |(name, _)| (process.clone(), name.clone()))
            })
            .collect(),
        service_levels: directory
            .processes
            .iter()
            .flat_map(|(process, def)| {
                def.queues.iter().map(move |(name, queue)| {
                    ((process.clone(), name.clone()), queue.service_level())
                })
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sales() -> Directory {
        let tenant =
            Directory::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tenant")).unwrap();
        tenant.filtered_for("svc-sales")
    }

    #[test]
    fn the_sales_tenant_routes_by_its_strategies() {
        let config = config(&sales(), &RoutingSettings::default()).unwrap();
        let names: Vec<(&str, &str)> = config
            .views
            .iter()
            .map(|v| (v.process.as_str(), v.queue.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("sales-chat", "inbound"),
                ("sales-chat", "overflow"),
                ("sales-email", "inbound"),
                ("sales-email", "overflow"),
            ]
        );
        let inbound = &config.views[2];
        let strategy = inbound.strategy().unwrap();
        assert_eq!(strategy.name, "skilled-first");
        let steps: Vec<(Select, i64, bool)> = strategy
            .steps
            .iter()
            .map(|s| (s.select, s.timeout.num_seconds(), s.agent_only))
            .collect();
        assert_eq!(
            steps,
            [
                (Select::LastAgent, 60, true),
                (Select::LongestIdle, 300, true),
                (Select::LeastBusy, 900, true),
            ]
        );
        assert_eq!(
            strategy.on_exhausted,
            Exhausted::PlaceInQueue("overflow".into())
        );
        assert_eq!(
            inbound.order,
            [
                OrderKey {
                    field: OrderField::Priority,
                    descending: true
                },
                OrderKey {
                    field: OrderField::SubmittedAt,
                    descending: false
                },
            ]
        );
        let chat_overflow = config.views[1].strategy().unwrap();
        assert_eq!(
            chat_overflow.on_exhausted,
            Exhausted::Stop("no agent available".into())
        );
    }

    #[test]
    fn agents_carry_their_skills_groups_and_capacity_rule() {
        let config = config(&sales(), &RoutingSettings::default()).unwrap();
        let names: Vec<&str> = config.agents.keys().map(String::as_str).collect();
        assert_eq!(names, ["anna", "arno"]);
        let anna = &config.agents["anna"];
        assert_eq!(anna.skills["billing"], 8);
        assert!(anna.groups.contains("sales-agents"));
        assert_eq!(
            anna.capacity,
            Capacity {
                media: [
                    ("chat".to_owned(), 2),
                    ("email".to_owned(), 3),
                    ("workitem".to_owned(), 1)
                ]
                .into(),
                total: Some(4),
            }
        );
    }

    #[test]
    fn an_agent_without_a_capacity_rule_may_hold_one_of_each_media() {
        let mut directory = sales();
        if let Some(agent) = directory
            .persons
            .get_mut("arno")
            .and_then(|p| p.agent.as_mut())
        {
            agent.capacity_rule = None;
        }
        let config = config(&directory, &RoutingSettings::default()).unwrap();
        let arno = &config.agents["arno"].capacity;
        assert_eq!(arno.media.values().copied().collect::<Vec<_>>(), [1, 1, 1]);
        assert_eq!(arno.total, None);
    }

    #[test]
    fn an_agent_without_a_capacity_rule_gets_the_default_capacity_setting() {
        let mut directory = sales();
        if let Some(agent) = directory
            .persons
            .get_mut("arno")
            .and_then(|p| p.agent.as_mut())
        {
            agent.capacity_rule = None;
        }
        let settings = RoutingSettings {
            default_capacity: Some(crate::settings::CapacitySetting {
                media: [("chat".to_owned(), 3), ("email".to_owned(), 1)].into(),
                total: Some(3),
            }),
            ..RoutingSettings::default()
        };
        let config = config(&directory, &settings).unwrap();
        assert_eq!(
            config.agents["arno"].capacity,
            Capacity {
                media: [("chat".to_owned(), 3), ("email".to_owned(), 1)].into(),
                total: Some(3),
            }
        );
        // A person's own rule still wins.
        assert_eq!(config.agents["anna"].capacity.total, Some(4));
    }

    #[test]
    fn the_routing_settings_set_the_timers() {
        let minutes = |m: u64| std::time::Duration::from_secs(m * 60);
        let settings = RoutingSettings {
            delivery_timeout: std::time::Duration::from_secs(20),
            missed_offers_limit: 0,
            after_work: [("email".to_owned(), std::time::Duration::from_secs(30))].into(),
            desktop_grace: minutes(1),
            handling_timeout: minutes(120),
            routing_timeout: minutes(10),
            ..RoutingSettings::default()
        };
        let config = config(&sales(), &settings).unwrap();
        assert_eq!(
            config.timing,
            Timing {
                delivery_timeout: chrono::Duration::seconds(20),
                missed_offers_limit: 0,
                after_work: [("email".to_owned(), chrono::Duration::seconds(30))].into(),
                desktop_grace: chrono::Duration::minutes(1),
                handling_timeout: chrono::Duration::minutes(120),
                routing_timeout: chrono::Duration::minutes(10),
            }
        );
        // The settings' defaults are the router's.
        let defaults = super::config(&sales(), &RoutingSettings::default()).unwrap();
        assert_eq!(defaults.timing, Timing::default());
    }

    #[test]
    fn a_views_aging_reaches_the_router() {
        let mut directory = sales();
        let view = directory
            .processes
            .get_mut("sales-chat")
            .and_then(|p| p.queues.get_mut("inbound"))
            .and_then(|q| q.views.get_mut("all"))
            .unwrap();
        view.aging = Some("2/1m".parse().unwrap());
        let config = config(&directory, &RoutingSettings::default()).unwrap();
        let aging = |process: &str, queue: &str| {
            config
                .views
                .iter()
                .find(|v| v.process == process && v.queue == queue)
                .unwrap()
                .aging
        };
        assert_eq!(
            aging("sales-chat", "inbound"),
            Some(Aging {
                points: 2,
                per: chrono::Duration::minutes(1),
            })
        );
        assert_eq!(aging("sales-chat", "overflow"), None);
        // The example tenant's own.
        assert_eq!(
            aging("sales-email", "inbound"),
            Some(Aging {
                points: 1,
                per: chrono::Duration::seconds(10),
            })
        );
    }

    #[test]
    fn a_target_that_does_not_parse_is_refused_with_its_place() {
        let mut directory = sales();
        let strategy = directory
            .processes
            .get_mut("sales-email")
            .and_then(|p| p.strategies.get_mut("skilled-first"))
            .unwrap();
        strategy.steps[1].target = "agent.skills.english >=".into();
        let error = config(&directory, &RoutingSettings::default()).unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.starts_with(
                "business process 'sales-email', strategy 'skilled-first', step 2: invalid \
                 target: line 1, column"
            ),
            "{text}"
        );
    }
}
