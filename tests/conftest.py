import pytest

from femvalid.geometry import InterbodyCage, VertebralBodyReplacement, write_stl


@pytest.fixture(scope="session")
def cage():
    return InterbodyCage()


@pytest.fixture(scope="session")
def cage_surface(cage):
    return cage.surface()


@pytest.fixture(scope="session")
def vbr():
    return VertebralBodyReplacement()


@pytest.fixture(scope="session")
def cage_stl(tmp_path_factory, cage_surface):
    path = tmp_path_factory.mktemp("stl") / "cage.stl"
    write_stl(path, cage_surface.triangles)
    return path


@pytest.fixture(autouse=True)
def private_job_cache(tmp_path, monkeypatch):
    """Each test gets an empty job cache of its own."""
    monkeypatch.setenv("FEMVALID_CACHE_DIR", str(tmp_path / "job-cache"))


@pytest.fixture(autouse=True)
def per_job_pictures(request, monkeypatch):
    """The report's per-job pictures and viewers cost seconds a study; tests of other things leave them out.

    Tests marked ``pictures`` (the report's own) draw them all; the others get a one-line
    note in their place, so the report's sections, tables and charts are still built.
    """
    if request.node.get_closest_marker("pictures"):
        return
    from femvalid.report import results

    monkeypatch.setattr(results, "_picture", lambda make, alt, *args, caption="": f'<p class="note">{alt}</p>')
    monkeypatch.setattr(results, "_viewer", lambda pages, result, r, scene, enabled: None)
