"""The goal registry: the shipped goals of the contract, and every way a goal file can be wrong."""

from __future__ import annotations

import textwrap

import pytest

from nsk_pipeline.goals.registry import GoalRegistryError, Goal, Plan, load_registry

# The contract's table: goal -> (spor, kind, indicator, target, period)
CONTRACT_GOALS = {
    "HP2024-B1": ("boern_unge", "numeric", "elever_nsk", 2000, "annual"),
    "HP2024-B2": ("boern_unge", "numeric", "pilotskoler_sammenhaengende", 2, 2024),
    "HP2024-B3": ("boern_unge", "numeric", "fagpersoner_opkvalificeret", 200, "annual"),
    "HP2024-V1": ("voksne", "numeric", "henvendelser", 250, "annual"),
    "HP2024-V2": ("voksne", "numeric", "borgersager", 100, "annual"),
    "HP2024-V3": ("voksne", "numeric", "rettighedskurser", 17, "annual"),
    "HP2024-V4": ("voksne", "milestone", None, None, 2024),
    "HP2024-V5": ("voksne", "milestone", None, None, 2024),
    "HP2024-C1": ("civilsamfund", "milestone", None, None, 2024),
    "HP2024-C2": ("civilsamfund", "numeric", "netvaerksmoeder", 2, "annual"),
    "HP2024-C3": ("civilsamfund", "milestone", None, None, 2024),
    "HP2024-C4": ("civilsamfund", "numeric", "kompetenceudviklingsforloeb", 1, "plan"),
    "IHP2017-1": ("boern_unge", "numeric", "elever_nsk", 2000, "plan"),
    "IHP2017-2": ("boern_unge", "numeric", "friskoler_naaet", 5, "plan"),
    "IHP2017-3": ("boern_unge", "numeric", "foraeldre_naaet", 500, "plan"),
    "IHP2017-4": ("boern_unge", "numeric", "fagpersoner_opkvalificeret", 500, "plan"),
    "IHP2017-5": ("tvaergaaende", "milestone", None, None, "plan"),
    "IHP2017-6": ("tvaergaaende", "milestone", None, None, "plan"),
}


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def goal_yaml(**fields) -> str:
    """A one-goal file for plan HP2024 with the given fields overriding a valid numeric goal."""
    goal = {"id": "HP2024-X9", "plan": "HP2024", "spor": "voksne", "text": "Et mål.",
            "kind": "numeric", "indicator": "henvendelser", "comparison": '">="', "target": 10,
            "period": "annual"}
    goal.update(fields)
    lines = ["goals:"]
    first = True
    for key, value in goal.items():
        if value is _DROP:
            continue
        lines.append(f"  {'- ' if first else '  '}{key}: {value}")
        first = False
    return "\n".join(lines) + "\n"


_DROP = object()


# --- the shipped registry -------------------------------------------------------------------

def test_shipped_registry_has_the_two_plans():
    reg = load_registry()
    assert reg.plans == {
        "HP2024": Plan("HP2024", "Handleplan til forebyggelse af negativ social kontrol 2024-26", 2024, 2026),
        "IHP2017": Plan("IHP2017", "Integrationshandleplan 2017-18", 2017, 2018),
    }


def test_shipped_registry_has_the_contracts_18_goals():
    reg = load_registry()
    assert [g.id for g in reg.goals] == list(CONTRACT_GOALS)
    for g in reg.goals:
        spor, kind, indicator, target, period = CONTRACT_GOALS[g.id]
        assert (g.spor, g.kind, g.indicator, g.target, g.period) == (spor, kind, indicator, target, period), g.id
        assert g.plan == g.id.split("-")[0]
        assert g.comparison == (">=" if kind == "numeric" else None)
        assert g.source_file == "goals.yaml"


def test_shipped_goal_texts_are_proper_danish():
    texts = {g.id: g.text for g in load_registry().goals}
    assert texts["HP2024-B1"].startswith("2.000 grundskoleelever skal modtage undervisning")
    assert texts["HP2024-V1"] == "Social kontrolvejlederne håndterer 250 henvendelser årligt."
    assert texts["HP2024-V2"] == "Social kontrolvejlederne håndterer 100 borgersager årligt."
    assert "17 kurser" in texts["HP2024-V3"] and "København" in texts["HP2024-V3"]
    assert "2.000 børn og unge" in texts["IHP2017-1"]
    assert "80 pct." in texts["IHP2017-5"]
    for text in texts.values():
        # the OCR of seeds 003/004 lost å/ø/æ; none of its damage may leak into the registry
        for damaged in ("arligt", "Malet", "bgrn", "forzldre", " pa ", "mgder", "Kebenhavn"):
            assert damaged not in text


def test_to_frames_has_the_marts_goals_columns():
    plans_df, goals_df = load_registry().to_frames()
    assert list(plans_df.columns) == ["plan_id", "plan_name", "first_year", "last_year"]
    assert list(goals_df.columns) == [
        "goal_id", "plan_id", "plan_name", "spor", "goal_text", "kind", "indicator_id",
        "comparison", "target", "period", "first_year", "last_year", "source_file"]
    assert len(goals_df) == 18 and len(plans_df) == 2
    b2 = goals_df.set_index("goal_id").loc["HP2024-B2"]
    assert (b2["period"], b2["target"], b2["first_year"], b2["last_year"]) == ("2024", 2.0, 2024, 2026)
    assert goals_df.set_index("goal_id")["target"].isna()["HP2024-V4"]


# --- extra files (NSK_GOALS_PATH) -----------------------------------------------------------

NEW_PLAN = """\
plans:
  - id: HP2027
    name: "Handleplan 2027-29"
    first_year: 2027
    last_year: 2029
goals:
  - id: HP2027-1
    plan: HP2027
    spor: boern_unge
    text: "3.000 elever årligt."
    kind: numeric
    indicator: elever_nsk
    comparison: ">="
    target: 3000
    period: annual
  - id: HP2027-2
    plan: HP2027
    spor: tvaergaaende
    text: "Evaluering i 2028."
    kind: milestone
    period: 2028
"""


def test_extra_folder_adds_a_plan(tmp_path):
    folder = tmp_path / "goals.d"
    folder.mkdir()
    write(folder, "b_more.yml", """\
        goals:
          - id: HP2024-X1
            plan: HP2027
            spor: voksne
            text: "Et mål i en anden fil."
            kind: numeric
            indicator: borgere_med_sag
            comparison: "<="
            target: 50.5
            period: plan
        """)
    write(folder, "a_plan.yaml", NEW_PLAN)
    write(folder, "notes.txt", "not: yaml: at all: [")  # not *.yaml: ignored
    reg = load_registry(folder)
    assert reg.plans["HP2027"] == Plan("HP2027", "Handleplan 2027-29", 2027, 2029)
    ids = [g.id for g in reg.goals]
    assert ids[:18] == list(CONTRACT_GOALS)
    assert ids[18:] == ["HP2027-1", "HP2027-2", "HP2024-X1"]  # files in sorted order
    x1 = reg.goals[-1]
    assert x1 == Goal("HP2024-X1", "HP2027", "voksne", "Et mål i en anden fil.", "numeric",
                      "borgere_med_sag", "<=", 50.5, "plan", "b_more.yml")
    assert reg.goals[19].period == 2028


def test_extra_single_file_and_string_path(tmp_path):
    path = write(tmp_path, "hp2027.yaml", NEW_PLAN)
    assert "HP2027" in load_registry(str(path)).plans
    assert len(load_registry(None).goals) == 18
    assert len(load_registry("").goals) == 18


def test_extra_path_that_does_not_exist(tmp_path):
    with pytest.raises(GoalRegistryError, match="does not exist"):
        load_registry(tmp_path / "nope.yaml")


def test_empty_extra_file_adds_nothing(tmp_path):
    assert len(load_registry(write(tmp_path, "empty.yaml", "")).goals) == 18


# --- errors: each names the file and the goal -----------------------------------------------

def load_goal(tmp_path, **fields):
    return load_registry(write(tmp_path, "extra.yaml", goal_yaml(**fields)))


def test_a_valid_goal_file_loads(tmp_path):
    assert load_goal(tmp_path).goals[-1].id == "HP2024-X9"


@pytest.mark.parametrize("fields, message", [
    ({"indicator": "foo"}, "unknown indicator 'foo'"),
    ({"plan": "HP1999"}, "unknown plan 'HP1999'"),
    ({"spor": "unge"}, "unknown spor 'unge'"),
    ({"kind": "kvalitativ"}, "unknown kind 'kvalitativ'"),
    ({"period": "quarterly"}, "unknown period 'quarterly'"),
    ({"period": 2023}, "period 2023 is outside plan HP2024"),
    ({"period": 2027}, "period 2027 is outside plan HP2024"),
    ({"comparison": '">"'}, "comparison must be '>=' or '<='"),
    ({"comparison": '"=="'}, "comparison must be '>=' or '<='"),
    ({"target": 0}, "target must be a positive number"),
    ({"target": -5}, "target must be a positive number"),
    ({"target": '"mange"'}, "target must be a positive number"),
    ({"target": "true"}, "target must be a positive number"),
    ({"indicator": _DROP}, "numeric goal without 'indicator'"),
    ({"comparison": _DROP}, "numeric goal without 'comparison'"),
    ({"target": _DROP}, "numeric goal without 'target'"),
    ({"text": _DROP}, "missing required field 'text'"),
    ({"spor": _DROP}, "missing required field 'spor'"),
    ({"period": _DROP}, "missing required field 'period'"),
    ({"plan": _DROP}, "missing required field 'plan'"),
    ({"kind": "milestone"}, "milestone goal must not have indicator, comparison, target"),
    ({"kind": "milestone", "indicator": _DROP, "comparison": _DROP}, "milestone goal must not have target"),
    ({"kind": "milestone", "target": _DROP, "comparison": _DROP}, "milestone goal must not have indicator"),
    ({"targte": 5}, "unknown field(s) 'targte'"),
])
def test_goal_errors_name_file_and_goal(tmp_path, fields, message):
    with pytest.raises(GoalRegistryError) as exc:
        load_goal(tmp_path, **fields)
    text = str(exc.value)
    assert "extra.yaml: goal HP2024-X9: " in text
    assert message in text


def test_error_message_shape(tmp_path):
    with pytest.raises(GoalRegistryError) as exc:
        load_goal(tmp_path, indicator="foo")
    assert str(exc.value).endswith("extra.yaml: goal HP2024-X9: unknown indicator 'foo'")


def test_missing_id_is_reported(tmp_path):
    with pytest.raises(GoalRegistryError, match=r"extra\.yaml: goal \?: missing required field 'id'"):
        load_goal(tmp_path, id=_DROP)


def test_single_year_period_inside_the_plan_loads(tmp_path):
    assert load_goal(tmp_path, period=2026).goals[-1].period == 2026
    assert load_goal(tmp_path, period='"2025"').goals[-1].period == 2025


def test_repeated_goal_id_across_files(tmp_path):
    with pytest.raises(GoalRegistryError) as exc:
        load_goal(tmp_path, id="HP2024-B1")
    assert "extra.yaml: goal HP2024-B1: repeated goal id" in str(exc.value)
    assert "goals.yaml" in str(exc.value)  # where it was first defined


def test_repeated_goal_id_in_one_file(tmp_path):
    text = goal_yaml() + goal_yaml().replace("goals:\n", "")
    with pytest.raises(GoalRegistryError, match="extra.yaml: goal HP2024-X9: repeated goal id"):
        load_registry(write(tmp_path, "extra.yaml", text))


def test_repeated_plan_id(tmp_path):
    text = """\
        plans:
          - id: HP2024
            name: "Igen"
            first_year: 2024
            last_year: 2026
        """
    with pytest.raises(GoalRegistryError, match="extra.yaml: plan HP2024: repeated plan id"):
        load_registry(write(tmp_path, "extra.yaml", text))


def test_plan_first_year_after_last_year(tmp_path):
    text = """\
        plans:
          - id: HP2030
            name: "Baglæns"
            first_year: 2031
            last_year: 2030
        """
    with pytest.raises(GoalRegistryError, match="extra.yaml: plan HP2030: first_year 2031 is after last_year 2030"):
        load_registry(write(tmp_path, "extra.yaml", text))


def test_plan_missing_field(tmp_path):
    text = """\
        plans:
          - id: HP2030
            first_year: 2030
            last_year: 2031
        """
    with pytest.raises(GoalRegistryError, match="extra.yaml: plan HP2030: missing required field 'name'"):
        load_registry(write(tmp_path, "extra.yaml", text))


def test_invalid_yaml(tmp_path):
    with pytest.raises(GoalRegistryError, match="bad.yaml: invalid YAML"):
        load_registry(write(tmp_path, "bad.yaml", "goals:\n  - id: [unclosed\n"))


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(GoalRegistryError, match="extra.yaml: unknown top-level key.*'maal'"):
        load_registry(write(tmp_path, "extra.yaml", "maal: []\n"))


def test_top_level_not_a_mapping(tmp_path):
    with pytest.raises(GoalRegistryError, match="extra.yaml: expected a mapping"):
        load_registry(write(tmp_path, "extra.yaml", "- id: HP2024-X9\n"))


def test_error_in_a_folder_names_the_file(tmp_path):
    write(tmp_path, "a.yaml", NEW_PLAN)
    write(tmp_path, "b.yaml", goal_yaml(indicator="foo"))
    with pytest.raises(GoalRegistryError, match=r"b\.yaml: goal HP2024-X9: unknown indicator 'foo'"):
        load_registry(tmp_path)


def test_nsk_materialize_stops_on_a_bad_registry_with_a_clear_message(tmp_path, monkeypatch, capsys):
    from nsk_pipeline.cli import main

    bad = tmp_path / "extra.yaml"
    bad.write_text("goals:\n  - id: X-1\n    plan: HP2024\n    spor: voksne\n    text: t\n    kind: numeric\n"
                   "    indicator: no_such_indicator\n    comparison: '>='\n    target: 3\n    period: annual\n")
    monkeypatch.setenv("NSK_GOALS_PATH", str(bad))
    assert main(["materialize"]) == 2
    err = capsys.readouterr().err
    assert "extra.yaml" in err and "X-1" in err and "no_such_indicator" in err
