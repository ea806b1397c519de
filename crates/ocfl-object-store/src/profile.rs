//! Profiles of the AWS shared configuration files, read as the AWS CLI reads them:
//! `~/.aws/credentials` (or `AWS_SHARED_CREDENTIALS_FILE`) and `~/.aws/config` (or
//! `AWS_CONFIG_FILE`), the profile named by `AWS_PROFILE` (`default` without it).
//!
//! The files are INI-like with AWS's own rules (a profile in the config file is
//! `[profile NAME]` except `[default]`; an indented line belongs to the nested section above
//! it, as `s3 =` followed by `  endpoint_url = ...`), so they are read here rather than by a
//! general INI crate; `aws-config` reads them too, but brings the whole AWS SDK runtime.
//! Messages name files, profiles and line numbers, never a value (a value may be a secret).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a profile says about reaching S3. Each field is `None` where the profile is silent.
#[derive(Default, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    /// The profile's name.
    pub(crate) name: String,
    pub(crate) access_key_id: Option<String>,
    pub(crate) secret_access_key: Option<String>,
    pub(crate) session_token: Option<String>,
    pub(crate) region: Option<String>,
    /// `endpoint_url` for S3: the profile's `s3 = endpoint_url = ...` if it has one, else
    /// its `endpoint_url`.
    pub(crate) endpoint_url: Option<String>,
}

// Credentials are never shown.
impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "…"))
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

/// The sections of one file: section name, then key (`s3.endpoint_url` for a nested key),
/// then value.
type Sections = BTreeMap<String, BTreeMap<String, String>>;

impl Profile {
    /// The profile the environment (`var` looks a variable up) selects, from the files it
    /// names. `Ok(None)`: no profile was named and the files have no `default`. A profile
    /// named by `AWS_PROFILE` that neither file has is an error, as for the AWS CLI.
    pub(crate) fn load(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Profile>, String> {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        let named = var("AWS_PROFILE").or_else(|| var("AWS_DEFAULT_PROFILE"));
        let name = named.clone().unwrap_or_else(|| "default".to_owned());
        let home = var("HOME").map(PathBuf::from);
        let file = |variable: &str, default: &str| -> Option<PathBuf> {
            match var(variable) {
                Some(path) => Some(expand_home(&path, home.as_deref())),
                None => home.as_ref().map(|home| home.join(".aws").join(default)),
            }
        };
        let credentials_file = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        let config_file = file("AWS_CONFIG_FILE", "config");
        let credentials = read_sections(credentials_file.as_deref())?;
        let config = read_sections(config_file.as_deref())?;
        let config_section = match name.as_str() {
            "default" => "default".to_owned(),
            other => format!("profile {other}"),
        };
        let from_credentials = credentials.get(&name);
        let from_config = config.get(&config_section);
        if from_credentials.is_none() && from_config.is_none() {
            return match named {
                Some(name) => Err(format!(
                    "the AWS profile {name:?} (from AWS_PROFILE) is in neither {} nor {}",
                    shown(credentials_file.as_deref()),
                    shown(config_file.as_deref())
                )),
                None => Ok(None),
            };
        }
        // The credentials file wins over the config file, key by key, as for the AWS CLI.
        let get = |key: &str| {
            from_credentials
                .and_then(|keys| keys.get(key))
                .or_else(|| from_config.and_then(|keys| keys.get(key)))
                .cloned()
        };
        Ok(Some(Profile {
            name,
            access_key_id: get("aws_access_key_id"),
            secret_access_key: get("aws_secret_access_key"),
            session_token: get("aws_session_token"),
            region: get("region"),
            endpoint_url: get("s3.endpoint_url").or_else(|| get("endpoint_url")),
        }))
    }
}

fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

fn shown(path: Option<&Path>) -> String {
    path.map_or_else(|| "(no HOME)".to_owned(), |p| p.display().to_string())
}

/// The sections of the file at `path`; none if there is no such file.
fn read_sections(path: Option<&Path>) -> Result<Sections, String> {
    let Some(path) = path else {
        return Ok(Sections::new());
    };
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).map_err(|line| {
            format!(
                "{} line {line}: not a [section], a `key = value` or a comment",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Sections::new()),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// Parses the text of a shared configuration file; `Err` is the number of a line that is
/// none of what the files hold.
fn parse(text: &str) -> Result<Sections, usize> {
    let mut sections = Sections::new();
    let mut section: Option<String> = None;
    // The key of the nested section an indented line belongs to (`s3` after `s3 =`).
    let mut nested: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[') {
            let name = name.strip_suffix(']').ok_or(number)?;
            // `[profile  name]` and `[ name ]` name `profile name` and `name`.
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.entry(name.clone()).or_default();
            section = Some(name);
            nested = None;
            continue;
        }
        let (key, value) = trimmed.split_once('=').ok_or(number)?;
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        let indented = line.starts_with([' ', '\t']);
        let Some(section) = &section else {
            return Err(number);
        };
        let keys = sections.entry(section.clone()).or_default();
        match (&nested, indented) {
            (Some(parent), true) => {
                keys.insert(format!("{parent}.{key}"), value.to_owned());
            }
            _ if value.is_empty() => nested = Some(key),
            _ => {
                nested = None;
                keys.insert(key, value.to_owned());
            }
        }
    }
    Ok(sections)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "wJalrXUtnFEMI-do-not-print";

    /// A temporary HOME with `~/.aws/credentials` and `~/.aws/config` as given (`None`: no
    /// such file).
    fn home(credentials: Option<&str>, config: Option<&str>) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        let aws = home.path().join(".aws");
        std::fs::create_dir(&aws).unwrap();
        if let Some(text) = credentials {
            std::fs::write(aws.join("credentials"), text).unwrap();
        }
        if let Some(text) = config {
            std::fs::write(aws.join("config"), text).unwrap();
        }
        home
    }

    fn load(home: &tempfile::TempDir, vars: &[(&str, &str)]) -> Result<Option<Profile>, String> {
        let mut env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.insert("HOME".into(), home.path().display().to_string());
        Profile::load(&|name| env.get(name).cloned())
    }

    #[test]
    fn the_default_profile_comes_from_both_files() {
        let home = home(
            Some(&format!(
                "# keys\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = {SECRET}\n\n[other]\naws_access_key_id = AKIDOTHER\n"
            )),
            Some("[default]\nregion = eu-west-2\nendpoint_url = https://s3.example.org:9000\n"),
        );
        let profile = load(&home, &[]).unwrap().unwrap();
        assert_eq!(profile.name, "default");
        assert_eq!(profile.access_key_id.as_deref(), Some("AKIDDEFAULT"));
        assert_eq!(profile.secret_access_key.as_deref(), Some(SECRET));
        assert_eq!(profile.session_token, None);
        assert_eq!(profile.region.as_deref(), Some("eu-west-2"));
        assert_eq!(
            profile.endpoint_url.as_deref(),
            Some("https://s3.example.org:9000")
        );
        assert!(!format!("{profile:?}").contains(SECRET));
    }

    #[test]
    fn aws_profile_names_a_profile_section_of_the_config_file() {
        let home = home(
            Some("[archive]\naws_access_key_id = AKIDFILE\n"),
            Some(
                "[default]\nregion = us-east-1\n[profile archive]\naws_access_key_id = AKIDCONFIG\nregion = eu-central-1\nendpoint_url = https://general.example.org\ns3 =\n  endpoint_url = https://s3.example.org\n  addressing_style = path\n",
            ),
        );
        let profile = load(&home, &[("AWS_PROFILE", "archive")]).unwrap().unwrap();
        assert_eq!(profile.name, "archive");
        // The credentials file wins over the config file.
        assert_eq!(profile.access_key_id.as_deref(), Some("AKIDFILE"));
        assert_eq!(profile.region.as_deref(), Some("eu-central-1"));
        // The S3 endpoint wins over the general one.
        assert_eq!(
            profile.endpoint_url.as_deref(),
            Some("https://s3.example.org")
        );
    }

    #[test]
    fn the_files_can_be_elsewhere() {
        let home = home(None, None);
        let elsewhere = tempfile::tempdir().unwrap();
        let credentials = elsewhere.path().join("creds");
        let config = elsewhere.path().join("conf");
        std::fs::write(
            &credentials,
            "[default]\naws_access_key_id = AKIDELSEWHERE\n",
        )
        .unwrap();
        std::fs::write(&config, "[default]\nregion = ap-south-1\n").unwrap();
        let profile = load(
            &home,
            &[
                ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
                ("AWS_CONFIG_FILE", config.to_str().unwrap()),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(profile.access_key_id.as_deref(), Some("AKIDELSEWHERE"));
        assert_eq!(profile.region.as_deref(), Some("ap-south-1"));
    }

    #[test]
    fn no_files_is_no_profile_but_a_named_profile_must_exist() {
        let home = home(None, None);
        assert_eq!(load(&home, &[]).unwrap(), None);
        let error = load(&home, &[("AWS_PROFILE", "missing")]).unwrap_err();
        assert!(error.contains("\"missing\""), "{error}");
        assert!(error.contains(".aws/credentials"), "{error}");
    }

    #[test]
    fn a_malformed_line_is_named_by_number_never_by_its_text() {
        let home = home(
            Some(&format!("[default]\naws_secret_access_key {SECRET}\n")),
            None,
        );
        let error = load(&home, &[]).unwrap_err();
        assert!(error.contains("credentials line 2"), "{error}");
        assert!(!error.contains(SECRET), "{error}");
        let home = self::home(Some(&format!("aws_secret_access_key = {SECRET}\n")), None);
        let error = load(&home, &[]).unwrap_err();
        assert!(error.contains("line 1"), "{error}");
        assert!(!error.contains(SECRET), "{error}");
    }
}
