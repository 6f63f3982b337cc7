//! Every example policy has a `.rkl` twin that decides every case exactly as the YAML does.

use std::path::Path;

use rekall_policy::testing::{TestFile, run_file};
use rekall_policy::{Policy, Request};

#[test]
fn each_yaml_policy_and_its_dsl_twin_decide_every_case_alike() {
    let mut compared = 0;
    for entry in std::fs::read_dir("policies").unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".test.yaml") {
            continue;
        }
        let file = TestFile::load(&path).unwrap();
        let yaml = Policy::from_path(&file.policy).unwrap();
        let twin_path = file.policy.with_extension("rkl");
        assert!(
            twin_path.exists(),
            "{} has no .rkl twin",
            file.policy.display()
        );
        let dsl = Policy::from_path(&twin_path).unwrap_or_else(|e| panic!("{}", e.render()));
        assert_eq!(
            dsl.doc(),
            yaml.doc(),
            "{} and its twin differ",
            file.policy.display()
        );
        for case in &file.cases {
            let request = Request::from_json(&case.request).unwrap();
            assert_eq!(
                dsl.decide(&request).unwrap(),
                yaml.decide(&request).unwrap(),
                "case {:?} of {}",
                case.name,
                path.display()
            );
            compared += 1;
        }
        for result in [run_file(file.clone(), &yaml), run_file(file, &dsl)] {
            assert_eq!(result.failed(), 0, "{}", path.display());
        }
    }
    assert!(compared >= 40, "only {compared} cases compared");
}

#[test]
fn every_example_policy_is_in_canonical_form_in_both_languages() {
    use rekall_policy::front::{self, Language};
    for entry in std::fs::read_dir("policies").unwrap() {
        let path = entry.unwrap().path();
        let name = path.to_string_lossy().into_owned();
        let language = match path.extension().and_then(|e| e.to_str()) {
            Some("rkl") => Language::Dsl,
            Some("yaml") if !name.ends_with(".test.yaml") => Language::Yaml,
            _ => continue,
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let doc = front::parse(language, &text).into_result().unwrap();
        assert_eq!(
            rekall_policy::print::print(&doc, language),
            text,
            "{name} is not canonical"
        );
        assert!(Path::new(&name).exists());
    }
}
