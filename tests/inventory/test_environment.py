from apps.inventory.environment import current_fingerprint, differences

VALIDATED = {"python": "3.11.7", "os": "Linux", "packages": {"scikit-learn": "1.6.1", "numpy": "2.2.0"}}


def test_identical_fingerprints_do_not_differ():
    assert differences(VALIDATED, VALIDATED) == []


def test_patch_releases_are_not_flagged():
    runtime = {"python": "3.11.9", "os": "linux", "packages": {"scikit-learn": "1.6.3", "numpy": "2.2.5"}}
    assert differences(VALIDATED, runtime) == []


def test_a_python_minor_version_change_is_flagged():
    runtime = {**VALIDATED, "python": "3.12.1"}
    assert [str(d) for d in differences(VALIDATED, runtime)] == ["Python: validated 3.11.7, runs 3.12.1"]


def test_library_minor_changes_and_missing_libraries_are_flagged():
    runtime = {"python": "3.11.7", "os": "Linux", "packages": {"scikit-learn": "1.5.2"}}
    found = {d.component: (d.validated, d.runtime) for d in differences(VALIDATED, runtime)}
    assert found == {"scikit-learn": ("1.6.1", "1.5.2"), "numpy": ("2.2.0", "not installed")}


def test_os_change_is_flagged():
    assert differences(VALIDATED, {**VALIDATED, "os": "Windows"})[0].component == "OS"


def test_unknown_fingerprints_are_not_a_mismatch():
    assert differences({}, VALIDATED) == [] and differences(VALIDATED, None) == []


def test_current_fingerprint_reads_this_interpreter():
    import platform

    import sklearn

    fingerprint = current_fingerprint()
    assert fingerprint["python"] == platform.python_version()
    assert fingerprint["packages"]["scikit-learn"] == sklearn.__version__
