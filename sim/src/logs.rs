//! Log groups and log streams: where flow logs deliver their records (huawei LTS log groups
//! and log streams; alibaba SLS projects and Logstores; tencent CLS logsets and log topics —
//! one model for the three, named as LTS names it).
//!
//! This module owns the catalogue and its rules: names (`Limits::check_log_group_name`,
//! `check_log_stream_name`), uniqueness (a group's name among live groups, a stream's within
//! its group), retention (default and range per provider, from [`Limits`]), and refusing to
//! delete a group that still has streams. It does not store records and does not expire them:
//! the log service keeps records and drops those older than [`LogCatalog::retention_cutoff`]
//! on the virtual clock. Refusing to delete a stream a flow log delivers to is the caller's
//! job, since flow logs live in the world.
//!
//! Sources: seed `003_7a6a5705ef81d38f.txt` ("Creating a Log Group", Table 1; "Creating a Log
//! Stream", Table 2): names, "must be globally unique" (groups), "must be unique in a log group"
//! (streams), "The default retention period for logs is seven days."
//!
//! Resources are addressed by index; deleted ones keep their slot with `deleted` set. Every
//! operation validates fully before it changes anything.

use crate::limits::Limits;
use crate::time::{Span, Time};
use crate::world::ModelError;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogGroup {
    pub id: String,
    pub name: String,
    pub retention_days: u32,
    pub deleted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogStream {
    pub id: String,
    pub name: String,
    /// Index of the group in [`LogCatalog::groups`].
    pub group: u32,
    pub deleted: bool,
}

/// Every log group and log stream of a world, live or deleted.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct LogCatalog {
    pub groups: Vec<LogGroup>,
    pub streams: Vec<LogStream>,
}

impl LogCatalog {
    fn live_group(&self, g: u32) -> Result<&LogGroup, ModelError> {
        self.groups
            .get(g as usize)
            .filter(|x| !x.deleted)
            .ok_or_else(|| ModelError::not_found("group", "no such log group"))
    }

    fn live_stream(&self, s: u32) -> Result<&LogStream, ModelError> {
        self.streams
            .get(s as usize)
            .filter(|x| !x.deleted)
            .ok_or_else(|| ModelError::not_found("stream", "no such log stream"))
    }

    fn live_streams_of(&self, g: u32) -> impl Iterator<Item = &LogStream> {
        self.streams
            .iter()
            .filter(move |s| s.group == g && !s.deleted)
    }

    /// InvalidArgument on `name`, or AlreadyExists when another live group (not `except`) has
    /// it.
    fn check_group_name(
        &self,
        limits: &Limits,
        name: &str,
        except: Option<u32>,
    ) -> Result<(), ModelError> {
        limits
            .check_log_group_name(name)
            .map_err(|m| ModelError::invalid("name", m))?;
        let taken = self
            .groups
            .iter()
            .enumerate()
            .any(|(i, g)| !g.deleted && g.name == name && Some(i as u32) != except);
        if taken {
            return Err(ModelError::exists(
                "name",
                format!("a log group named `{name}` already exists"),
            ));
        }
        Ok(())
    }

    fn check_retention(limits: &Limits, days: u32) -> Result<(), ModelError> {
        limits
            .check_retention(days)
            .map_err(|m| ModelError::invalid("retention_days", m))
    }

    /// Creates a log group; its retention is `retention_days`, or the provider's default.
    pub fn create_group(
        &mut self,
        limits: &Limits,
        id: String,
        name: &str,
        retention_days: Option<u32>,
    ) -> Result<u32, ModelError> {
        self.check_group_name(limits, name, None)?;
        let retention_days = retention_days.unwrap_or(limits.log_retention_default_days);
        Self::check_retention(limits, retention_days)?;
        let g = self.groups.len() as u32;
        self.groups.push(LogGroup {
            id,
            name: name.to_string(),
            retention_days,
            deleted: false,
        });
        Ok(g)
    }

    /// Creates a log stream in a live group, its name unique within that group.
    pub fn create_stream(
        &mut self,
        limits: &Limits,
        id: String,
        group: u32,
        name: &str,
    ) -> Result<u32, ModelError> {
        limits
            .check_log_stream_name(name)
            .map_err(|m| ModelError::invalid("name", m))?;
        let g = self.live_group(group)?;
        if self.live_streams_of(group).any(|s| s.name == name) {
            return Err(ModelError::exists(
                "name",
                format!(
                    "log group `{}` already has a log stream named `{name}`",
                    g.name
                ),
            ));
        }
        let s = self.streams.len() as u32;
        self.streams.push(LogStream {
            id,
            name: name.to_string(),
            group,
            deleted: false,
        });
        Ok(s)
    }

    /// Changes how long a group keeps records. Records already stored follow the new value.
    pub fn set_retention(
        &mut self,
        limits: &Limits,
        group: u32,
        days: u32,
    ) -> Result<(), ModelError> {
        self.live_group(group)?;
        Self::check_retention(limits, days)?;
        self.groups[group as usize].retention_days = days;
        Ok(())
    }

    pub fn rename_group(
        &mut self,
        limits: &Limits,
        group: u32,
        name: &str,
    ) -> Result<(), ModelError> {
        self.live_group(group)?;
        self.check_group_name(limits, name, Some(group))?;
        self.groups[group as usize].name = name.to_string();
        Ok(())
    }

    /// Deletes a stream. The caller refuses first if a flow log delivers to it.
    pub fn delete_stream(&mut self, stream: u32) -> Result<(), ModelError> {
        self.live_stream(stream)?;
        self.streams[stream as usize].deleted = true;
        Ok(())
    }

    /// Deletes a group without live streams; otherwise FailedPrecondition naming the streams
    /// (`dependents`, their ids sorted).
    pub fn delete_group(&mut self, group: u32) -> Result<(), ModelError> {
        let g = self.live_group(group)?;
        let mut dependents: Vec<String> =
            self.live_streams_of(group).map(|s| s.id.clone()).collect();
        dependents.sort();
        if !dependents.is_empty() {
            let n = dependents.len();
            return Err(ModelError::precondition(
                "group",
                format!(
                    "log group `{}` still has {n} log stream{} ({}): delete {} first",
                    g.name,
                    if n == 1 { "" } else { "s" },
                    dependents.join(", "),
                    if n == 1 { "it" } else { "them" },
                ),
            )
            .with_dependents(dependents));
        }
        self.groups[group as usize].deleted = true;
        Ok(())
    }

    /// Days the stream's group keeps records; `None` for a stream that does not exist or was
    /// deleted.
    pub fn retention(&self, stream: u32) -> Option<u32> {
        let s = self.live_stream(stream).ok()?;
        Some(self.groups[s.group as usize].retention_days)
    }

    /// The instant before which a stream's records have expired at `now` (`now` minus the
    /// retention); `None` as for [`LogCatalog::retention`].
    pub fn retention_cutoff(&self, stream: u32, now: Time) -> Option<Time> {
        let days = self.retention(stream)?;
        Some(now - Span::from_secs(u64::from(days) * 86_400))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Provider;
    use crate::world::ErrorKind;

    fn huawei() -> Limits {
        Limits::of(Provider::Huawei)
    }

    fn assert_err(e: ModelError, kind: ErrorKind, field: &str, message: &str) {
        assert_eq!(
            (e.kind, e.field.as_str(), e.message.as_str()),
            (kind, field, message)
        );
    }

    /// Group `lts-group` (0) with stream `vpc-flow` (0).
    fn catalog() -> LogCatalog {
        let mut c = LogCatalog::default();
        let g = c
            .create_group(&huawei(), "lg-1".into(), "lts-group", None)
            .unwrap();
        c.create_stream(&huawei(), "ls-1".into(), g, "vpc-flow")
            .unwrap();
        c
    }

    #[test]
    fn group_defaults_to_seven_days() {
        let c = catalog();
        assert_eq!(c.groups[0].retention_days, 7);
        assert_eq!(c.retention(0), Some(7));
        assert_eq!(
            c.retention_cutoff(0, Time::from_secs(30 * 86_400)),
            Some(Time::from_secs(23 * 86_400))
        );
        assert_eq!(c.retention(5), None);
        assert_eq!(c.retention_cutoff(5, Time::from_secs(0)), None);
    }

    #[test]
    fn group_names() {
        let mut c = catalog();
        assert_err(
            c.create_group(&huawei(), "lg-2".into(), ".logs", None)
                .unwrap_err(),
            ErrorKind::InvalidArgument,
            "name",
            "`.logs` is not a valid log group name: it must not start with `.` or `_`",
        );
        assert_err(
            c.create_group(&huawei(), "lg-2".into(), "logs.", None)
                .unwrap_err(),
            ErrorKind::InvalidArgument,
            "name",
            "`logs.` is not a valid log group name: it must not end with `.`",
        );
        assert_err(
            c.create_group(&huawei(), "lg-2".into(), "lts-group", None)
                .unwrap_err(),
            ErrorKind::AlreadyExists,
            "name",
            "a log group named `lts-group` already exists",
        );
        assert_eq!(c.groups.len(), 1);
    }

    #[test]
    fn group_retention_range() {
        let mut c = LogCatalog::default();
        assert_err(
            c.create_group(&huawei(), "lg-1".into(), "g", Some(0))
                .unwrap_err(),
            ErrorKind::InvalidArgument,
            "retention_days",
            "a retention of 0 days is not allowed: use 1 to 365 days",
        );
        assert_err(
            c.create_group(&huawei(), "lg-1".into(), "g", Some(366))
                .unwrap_err(),
            ErrorKind::InvalidArgument,
            "retention_days",
            "a retention of 366 days is not allowed: use 1 to 365 days",
        );
        assert!(c.groups.is_empty());
        let g = c
            .create_group(&huawei(), "lg-1".into(), "g", Some(365))
            .unwrap();
        assert_eq!(c.groups[g as usize].retention_days, 365);
        // aws takes only CloudWatch's values.
        let aws = Limits::of(Provider::Aws);
        assert!(c.create_group(&aws, "lg-2".into(), "h", Some(2)).is_err());
        assert!(c.create_group(&aws, "lg-2".into(), "h", Some(14)).is_ok());
    }

    #[test]
    fn set_retention() {
        let mut c = catalog();
        c.set_retention(&huawei(), 0, 30).unwrap();
        assert_eq!(c.retention(0), Some(30));
        assert_err(
            c.set_retention(&huawei(), 0, 400).unwrap_err(),
            ErrorKind::InvalidArgument,
            "retention_days",
            "a retention of 400 days is not allowed: use 1 to 365 days",
        );
        assert_eq!(c.retention(0), Some(30));
        assert_err(
            c.set_retention(&huawei(), 3, 30).unwrap_err(),
            ErrorKind::NotFound,
            "group",
            "no such log group",
        );
    }

    #[test]
    fn streams_are_unique_within_their_group() {
        let mut c = catalog();
        assert_err(
            c.create_stream(&huawei(), "ls-2".into(), 0, "vpc-flow")
                .unwrap_err(),
            ErrorKind::AlreadyExists,
            "name",
            "log group `lts-group` already has a log stream named `vpc-flow`",
        );
        // The same name in another group is fine.
        let g2 = c
            .create_group(&huawei(), "lg-2".into(), "other", None)
            .unwrap();
        c.create_stream(&huawei(), "ls-2".into(), g2, "vpc-flow")
            .unwrap();
        assert_eq!(c.streams.len(), 2);
        // A deleted stream's name is free again.
        c.delete_stream(0).unwrap();
        c.create_stream(&huawei(), "ls-3".into(), 0, "vpc-flow")
            .unwrap();
    }

    #[test]
    fn stream_names_and_group() {
        let mut c = catalog();
        assert_err(
            c.create_stream(&huawei(), "ls-2".into(), 0, "_s")
                .unwrap_err(),
            ErrorKind::InvalidArgument,
            "name",
            "`_s` is not a valid log stream name: it must not start with `.` or `_`",
        );
        assert_err(
            c.create_stream(&huawei(), "ls-2".into(), 0, "")
                .unwrap_err(),
            ErrorKind::InvalidArgument,
            "name",
            "a log stream name must not be empty: use 1 to 64 letters, digits, `_`, `-` and `.`",
        );
        assert_err(
            c.create_stream(&huawei(), "ls-2".into(), 4, "s")
                .unwrap_err(),
            ErrorKind::NotFound,
            "group",
            "no such log group",
        );
        assert_eq!(c.streams.len(), 1);
    }

    #[test]
    fn rename_group() {
        let mut c = catalog();
        c.create_group(&huawei(), "lg-2".into(), "other", None)
            .unwrap();
        c.rename_group(&huawei(), 0, "lts-group").unwrap(); // its own name: a no-op
        c.rename_group(&huawei(), 0, "flow-logs").unwrap();
        assert_eq!(c.groups[0].name, "flow-logs");
        assert_err(
            c.rename_group(&huawei(), 0, "other").unwrap_err(),
            ErrorKind::AlreadyExists,
            "name",
            "a log group named `other` already exists",
        );
        assert_err(
            c.rename_group(&huawei(), 0, "x.").unwrap_err(),
            ErrorKind::InvalidArgument,
            "name",
            "`x.` is not a valid log group name: it must not end with `.`",
        );
        assert_eq!(c.groups[0].name, "flow-logs");
        assert_eq!(
            c.rename_group(&huawei(), 9, "y").unwrap_err().kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn delete_group_names_its_streams() {
        let mut c = catalog();
        c.create_stream(&huawei(), "ls-0".into(), 0, "second")
            .unwrap();
        let e = c.delete_group(0).unwrap_err();
        assert_err(
            e.clone(),
            ErrorKind::FailedPrecondition,
            "group",
            "log group `lts-group` still has 2 log streams (ls-0, ls-1): delete them first",
        );
        assert_eq!(e.dependents, ["ls-0", "ls-1"]);
        assert!(!c.groups[0].deleted);
        c.delete_stream(1).unwrap();
        let e = c.delete_group(0).unwrap_err();
        assert_eq!(
            e.message,
            "log group `lts-group` still has 1 log stream (ls-1): delete it first"
        );
        c.delete_stream(0).unwrap();
        c.delete_group(0).unwrap();
        assert!(c.groups[0].deleted);
        assert_eq!(c.retention(0), None);
        assert_err(
            c.delete_group(0).unwrap_err(),
            ErrorKind::NotFound,
            "group",
            "no such log group",
        );
        // Its name is free again; streams cannot be created in the deleted group.
        c.create_group(&huawei(), "lg-9".into(), "lts-group", None)
            .unwrap();
        assert_eq!(
            c.create_stream(&huawei(), "ls-9".into(), 0, "s")
                .unwrap_err()
                .kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn delete_stream_twice() {
        let mut c = catalog();
        c.delete_stream(0).unwrap();
        assert!(c.streams[0].deleted);
        assert_eq!(c.retention(0), None);
        assert_err(
            c.delete_stream(0).unwrap_err(),
            ErrorKind::NotFound,
            "stream",
            "no such log stream",
        );
    }
}
