use std::ffi::OsString;

use proptest::prelude::*;

use super::*;

fn parse(text: &str) -> Result<Location, LocationError> {
    Location::parse_str(text)
}

fn s3(bucket: &str, prefix: &str) -> Location {
    Location::S3(S3Location::new(bucket, prefix).expect("valid"))
}

#[test]
fn s3_urls_give_bucket_and_prefix_without_outer_slashes() {
    assert_eq!(parse("s3://bucket/a/b"), Ok(s3("bucket", "a/b")));
    assert_eq!(parse("s3://bucket/a/b/"), Ok(s3("bucket", "a/b")));
    assert_eq!(parse("S3://bucket/p"), Ok(s3("bucket", "p")));
    assert_eq!(parse("s3://bucket"), Ok(s3("bucket", "")));
    assert_eq!(parse("s3://bucket/"), Ok(s3("bucket", "")));
    assert_eq!(
        parse("s3://my.bucket-1/x:y z"),
        Ok(s3("my.bucket-1", "x:y z"))
    );
}

#[test]
fn bad_buckets_and_prefixes_are_refused_naming_the_rule() {
    for (url, rule) in [
        ("s3:///p", "empty"),
        ("s3://", "empty"),
        ("s3://ab/p", "3 to 63"),
        ("s3://Bucket/p", "lower-case"),
        ("s3://bu_cket/p", "lower-case"),
        ("s3://-bucket/p", "begin and end"),
        ("s3://bucket-/p", "begin and end"),
        ("s3://a..b/p", "adjacent dots"),
        ("s3://192.168.5.4/p", "IP address"),
        ("s3://xn--bucket/p", "reserves"),
        ("s3://b-s3alias/p", "reserves"),
    ] {
        let err = parse(url).expect_err(url);
        assert!(
            matches!(err, LocationError::InvalidBucket { .. }) && err.to_string().contains(rule),
            "{url}: {err}"
        );
    }
    for (url, what) in [
        ("s3://bucket//p", "empty element"),
        ("s3://bucket/a//b", "empty element"),
        ("s3://bucket/a/../b", "\"..\""),
        ("s3://bucket/..", "\"..\""),
        ("s3://bucket/./a", "\".\""),
        ("s3://bucket/a//", "empty element"),
    ] {
        let err = parse(url).expect_err(url);
        assert!(
            matches!(err, LocationError::InvalidPrefix { .. }) && err.to_string().contains(what),
            "{url}: {err}"
        );
    }
}

#[test]
fn other_schemes_are_refused_naming_the_scheme() {
    for (url, scheme) in [
        ("s3x://b/p", "s3x"),
        ("gs://bucket/p", "gs"),
        ("http://host/root", "http"),
        ("://nothing", ""),
        ("./a://b", "./a"),
    ] {
        let err = parse(url).expect_err(url);
        assert_eq!(
            err,
            LocationError::UnsupportedScheme {
                scheme: scheme.to_owned(),
                url: url.to_owned()
            }
        );
        assert!(err.to_string().contains(&format!("{scheme:?}")), "{err}");
    }
}

#[test]
fn paths_without_a_scheme_separator_are_local_even_with_colons() {
    for path in [
        "a:b", "./a:b", "s3:", "s3:/b/p", "/archive", "rel/dir", "c:\\x",
    ] {
        assert_eq!(
            parse(path),
            Ok(Location::Local(PathBuf::from(path))),
            "{path}"
        );
    }
}

#[test]
fn file_urls_name_absolute_local_paths() {
    assert_eq!(
        parse("file:///srv/archive"),
        Ok(Location::Local(PathBuf::from("/srv/archive")))
    );
    assert_eq!(
        parse("file://localhost/srv/a:b"),
        Ok(Location::Local(PathBuf::from("/srv/a:b")))
    );
    for url in [
        "file://host/srv",
        "file://relative",
        "file:///a%20b",
        "file:///a?x",
    ] {
        assert!(
            matches!(parse(url), Err(LocationError::InvalidFileUrl { .. })),
            "{url}"
        );
    }
}

#[test]
fn a_url_that_is_not_utf8_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let text = OsStr::from_bytes(b"s3://bucket/\xff");
    assert!(matches!(
        Location::parse(text),
        Err(LocationError::NotUtf8 { .. })
    ));
    let local = OsStr::from_bytes(b"dir/\xff:x");
    assert_eq!(
        Location::parse(local),
        Ok(Location::Local(PathBuf::from(local)))
    );
}

fn s3_root(bucket: &str, prefix: &str) -> S3Location {
    S3Location::new(bucket, prefix).expect("valid")
}

#[test]
fn an_s3_work_area_is_the_sibling_prefix_by_default() {
    let area = S3WorkArea::of(&s3_root("bucket", "archive/main"), None).expect("sibling");
    assert_eq!(area.base, s3_root("bucket", "archive"));
    assert_eq!(
        (area.root.as_str(), area.area.as_str()),
        ("main", "main.ocfl-work")
    );
    let area = S3WorkArea::of(&s3_root("bucket", "main"), None).expect("sibling");
    assert_eq!(area.base, s3_root("bucket", ""));
    assert_eq!(
        (area.root.as_str(), area.area.as_str()),
        ("main", "main.ocfl-work")
    );
    // Naming the sibling is the same as the default.
    let explicit = parse("s3://bucket/archive/main.ocfl-work").expect("valid");
    assert_eq!(
        S3WorkArea::of(&s3_root("bucket", "archive/main"), Some(&explicit)),
        S3WorkArea::of(&s3_root("bucket", "archive/main"), None)
    );
}

#[test]
fn an_explicit_s3_work_area_is_reached_from_the_top_of_the_bucket() {
    let explicit = parse("s3://bucket/work/areas").expect("valid");
    let area =
        S3WorkArea::of(&s3_root("bucket", "archive/main"), Some(&explicit)).expect("outside");
    assert_eq!(area.base, s3_root("bucket", ""));
    assert_eq!(
        (area.root.as_str(), area.area.as_str()),
        ("archive/main", "work/areas")
    );
    // A name that only starts like the root's is outside it.
    let beside = parse("s3://bucket/archive/mainly").expect("valid");
    let area = S3WorkArea::of(&s3_root("bucket", "archive/main"), Some(&beside)).expect("outside");
    assert_eq!(area.area, "archive/mainly");
}

#[test]
fn s3_work_areas_the_root_cannot_use_are_refused() {
    let root = s3_root("bucket", "archive/main");
    for inside in [
        "s3://bucket/archive/main",
        "s3://bucket/archive/main/work",
        "s3://bucket/archive",
        "s3://bucket",
    ] {
        let explicit = parse(inside).expect("valid");
        let err = S3WorkArea::of(&root, Some(&explicit)).expect_err(inside);
        assert!(
            matches!(err, LocationError::WorkAreaInsideRoot { .. }),
            "{inside}: {err}"
        );
    }
    for elsewhere in ["s3://other/work", "/tmp/work"] {
        let explicit = parse(elsewhere).expect("valid");
        let err = S3WorkArea::of(&root, Some(&explicit)).expect_err(elsewhere);
        assert!(
            matches!(err, LocationError::WorkAreaOtherBucket { .. })
                && err.to_string().contains("same bucket"),
            "{elsewhere}: {err}"
        );
    }
    let top = s3_root("bucket", "");
    for explicit in [None, Some(parse("s3://bucket/work").expect("valid"))] {
        let err = S3WorkArea::of(&top, explicit.as_ref()).expect_err("top of the bucket");
        assert!(
            matches!(err, LocationError::TopOfBucket { .. }),
            "{explicit:?}: {err}"
        );
    }
}

#[test]
fn s3_state_dirs_differ_by_endpoint_bucket_and_prefix() {
    let home = Path::new("/home/u/.local/state");
    let root = S3Location::new("bucket", "archive/main").expect("valid");
    let aws = s3_state_dir(home, None, &root);
    assert!(
        aws.starts_with("/home/u/.local/state/ocfl"),
        "{}",
        aws.display()
    );
    let name = aws.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(name.starts_with("bucket-archive-main-"), "{name}");
    assert_eq!(
        aws,
        s3_state_dir(home, Some(AWS_DEFAULT_ENDPOINT), &root),
        "AWS by default"
    );
    let minio = s3_state_dir(home, Some("http://127.0.0.1:9000"), &root);
    let minio_slash = s3_state_dir(home, Some("http://127.0.0.1:9000/"), &root);
    let other = s3_state_dir(home, Some("http://10.0.0.2:9000"), &root);
    let other_prefix = s3_state_dir(
        home,
        None,
        &S3Location::new("bucket", "archive/other").expect("valid"),
    );
    assert_eq!(minio, minio_slash);
    let all = [&aws, &minio, &other, &other_prefix];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn the_state_home_is_xdg_state_home_else_under_home() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    };
    assert_eq!(
        state_home(env(&[("XDG_STATE_HOME", "/xdg"), ("HOME", "/home/u")])),
        Some(PathBuf::from("/xdg"))
    );
    // The specification ignores relative values.
    assert_eq!(
        state_home(env(&[("XDG_STATE_HOME", "rel"), ("HOME", "/home/u")])),
        Some(PathBuf::from("/home/u/.local/state"))
    );
    assert_eq!(state_home(env(&[])), None);
    assert_eq!(
        s3_endpoint(env(&[
            ("AWS_ENDPOINT_URL", "http://a"),
            ("AWS_ENDPOINT_URL_S3", "http://b")
        ])),
        Some("http://b".to_owned())
    );
    assert_eq!(
        s3_endpoint(env(&[("AWS_ENDPOINT_URL", "http://a")])),
        Some("http://a".to_owned())
    );
    assert_eq!(s3_endpoint(env(&[])), None);
}

#[test]
fn a_local_work_area_is_the_roots_sibling_or_the_one_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = std::fs::canonicalize(dir.path()).expect("canonical");
    let root = base.join("root");
    std::fs::create_dir(&root).expect("mkdir");
    let default = LocalWorkArea::of(&root, None).expect("default");
    assert_eq!(
        default,
        LocalWorkArea {
            base: base.clone(),
            root: "root".to_owned(),
            area: "root.ocfl-work".to_owned(),
            runs: "root.ocfl-work".to_owned(),
        }
    );
    assert_eq!(
        default.default_store(),
        base.join("root.ocfl-work/state.redb")
    );

    let explicit = Location::Local(base.join("scratch/work"));
    let given = LocalWorkArea::of(&root, Some(&explicit)).expect("given");
    assert_eq!(given.area_path(), base.join("scratch/work"));
    assert_eq!(given.root_path(), root);
    assert_eq!(given.runs, given.area);

    for inside in [root.join("work"), root.clone(), base.clone()] {
        let err = LocalWorkArea::of(&root, Some(&Location::Local(inside.clone())))
            .expect_err("inside or around the root");
        assert!(
            err.to_string().contains("outside"),
            "{}: {err}",
            inside.display()
        );
    }
    let remote = parse("s3://bucket/work").expect("valid");
    assert!(matches!(
        LocalWorkArea::of(&root, Some(&remote)),
        Err(LocationError::WorkAreaNotLocal { .. })
    ));
    let missing = LocalWorkArea::of(&base.join("missing"), None).expect_err("missing");
    assert!(missing.to_string().contains("No such file"), "{missing}");
}

fn bucket() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{1,40}[a-z0-9]".prop_filter("reserved", |b| check_bucket("", b).is_ok())
}

fn prefix() -> impl Strategy<Value = String> {
    proptest::collection::vec("[^/]{1,12}", 0..4)
        .prop_filter("dot elements", |parts| {
            parts.iter().all(|p| p != "." && p != "..")
        })
        .prop_map(|parts| parts.join("/"))
}

proptest! {
    #[test]
    fn s3_locations_round_trip_through_their_url(bucket in bucket(), prefix in prefix()) {
        let location = S3Location::new(&bucket, &prefix).expect("valid");
        let url = location.to_string();
        prop_assert_eq!(parse(&url), Ok(Location::S3(location.clone())));
        prop_assert_eq!(parse(&format!("{url}/")), Ok(Location::S3(location)));
    }

    #[test]
    fn parsing_never_panics(text in ".{0,80}") {
        let _ = parse(&text);
    }

    #[test]
    fn parsing_never_panics_on_urls(scheme in "[a-zA-Z0-9+.-]{0,6}", rest in ".{0,60}") {
        let _ = parse(&format!("{scheme}://{rest}"));
    }

    #[test]
    fn text_without_a_scheme_separator_stays_local(text in "[^/]{0,20}(:[^/]{0,20})?(/[a-z:]{0,8}){0,3}") {
        prop_assume!(!text.contains("://"));
        prop_assert_eq!(parse(&text), Ok(Location::Local(PathBuf::from(&text))));
    }
}
