"""The Datasets page through Streamlit's AppTest, on a real workspace in a temp folder."""

from __future__ import annotations

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from apptest import checked, errors, open_page, texts
from promptvault import datasets
from promptvault.dataset_io import MAX_IMPORT_BYTES
from ui.components import dataset_import

PAGE = "pages/datasets.py"
CSV = b"question,expected,tags\nWhere is my order?,Ask for the number,shipping\nCan I pay by card?,Yes,\n"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def import_pasted(at: AppTest, text: str, name: str = "support", target: str | None = None) -> AppTest:
    """Paste a table into the import form and click Import (a new dataset unless `target` names one)."""
    form = f"datasets.import.{at.session_state['datasets.import.generation']}"
    if target:
        at.selectbox(key="datasets.import.target").select(target).run()
    else:
        at.text_input(key=f"{form}.name").input(name)
    at.radio(key="datasets.import.source").set_value(dataset_import.PASTE).run()
    at.text_area(key=f"{form}.text").input(text)
    return checked(at.button(key="datasets.import.submit").click().run())


def test_datasets_empty_state_explains_what_to_do(app_ctx):
    at = open_page(PAGE, app_ctx)
    assert "No datasets yet" in texts(at) and "promptvault dataset import NAME FILE" in texts(at)
    assert at.expander[0].proto.expanded  # the import form is open
    assert "20 MB per file" in texts(at) and "50,000 cases" in texts(at)  # the limits, next to the uploader
    assert not at.dataframe


def test_datasets_paste_spreadsheet_rows_imports_a_new_dataset(app_ctx):
    at = import_pasted(open_page(PAGE, app_ctx), "question\texpected\nWhere is my order?\tAsk for the number\n")
    assert "Imported 1 case into support (1 in all)" in texts(at)
    [case] = datasets.get_cases(app_ctx, "support")
    assert (case.variables, case.expected) == ({"question": "Where is my order?"}, "Ask for the number")
    table = at.dataframe[0].value
    assert list(table["Name"]) == ["support"] and list(table["Cases"]) == [1]
    assert list(at.dataframe[1].value["{{ question }}"]) == ["Where is my order?"]
    assert at.text_area(key="datasets.import.1.text").value == ""  # a fresh, empty form


def test_datasets_paste_csv_appends_or_replaces_an_existing_dataset(app_ctx):
    datasets.import_cases(app_ctx, "support", CSV, "cases.csv")
    at = import_pasted(open_page(PAGE, app_ctx), "question\nThird?\n", target="support")
    assert [c.variables["question"] for c in datasets.get_cases(app_ctx, "support")][-1] == "Third?"
    assert datasets.get_dataset(app_ctx, "support").cases == 3
    at.selectbox(key="datasets.import.target").select("support").run()
    at.radio(key="datasets.import.source").set_value(dataset_import.PASTE).run()
    at.radio(key="datasets.import.1.mode").set_value(dataset_import.REPLACE)
    at.text_area(key="datasets.import.1.text").input("question\nOnly one\n")
    checked(at.button(key="datasets.import.submit").click().run())
    assert [c.variables for c in datasets.get_cases(app_ctx, "support")] == [{"question": "Only one"}]


def test_datasets_upload_csv_file_imports_it(app_ctx):
    at = open_page(PAGE, app_ctx)
    at.text_input(key="datasets.import.0.name").input("uploaded")
    at.file_uploader(key="datasets.import.0.file").upload("cases.csv", CSV, "text/csv").run()
    checked(at.button(key="datasets.import.submit").click().run())
    cases = datasets.get_cases(app_ctx, "uploaded")
    assert [c.tags for c in cases] == [["shipping"], []] and cases[1].expected == "Yes"
    assert "Imported 2 cases into uploaded" in texts(at)


def test_datasets_malformed_csv_names_the_line_and_creates_nothing(app_ctx):
    at = import_pasted(open_page(PAGE, app_ctx), 'question,expected\n"fine",ok\n"one","two","three"\n')
    assert any("line 3" in e and "3 fields" in e for e in errors(at)), errors(at)
    assert datasets.list_datasets(app_ctx) == []
    assert "three" in at.text_area(key="datasets.import.0.text").value  # the pasted table stays to fix


def test_datasets_oversized_upload_is_refused_and_creates_nothing(app_ctx):
    at = open_page(PAGE, app_ctx)
    at.text_input(key="datasets.import.0.name").input("huge")
    big = b"question\n" + b"x" * MAX_IMPORT_BYTES
    at.file_uploader(key="datasets.import.0.file").upload("huge.csv", big, "text/csv").run()
    checked(at.button(key="datasets.import.submit").click().run())
    assert any("huge.csv" in e and "the limit is" in e for e in errors(at)), errors(at)
    assert datasets.list_datasets(app_ctx) == []


def test_datasets_import_without_input_says_what_is_missing(app_ctx):
    at = open_page(PAGE, app_ctx)
    at.text_input(key="datasets.import.0.name").input("empty")
    checked(at.button(key="datasets.import.submit").click().run())
    assert any("nothing to import" in e for e in errors(at))


def test_datasets_edit_a_case_variable_saves_it(app_ctx):
    datasets.import_cases(app_ctx, "support", CSV, "cases.csv")
    at = open_page(PAGE, app_ctx)
    at.number_input(key="datasets.edit.support.position").set_value(2).run()
    form = f"datasets.edit.support.{datasets.get_dataset(app_ctx, 'support').updated_at.isoformat()}.2"
    assert at.text_input(key=f"{form}.var.question").value == "Can I pay by card?"
    at.text_input(key=f"{form}.var.question").input("Can I pay by bank transfer?")
    at.text_area(key=f"{form}.expected").input("No")
    checked(at.button(key=f"{form}.save").click().run())
    case = datasets.get_cases(app_ctx, "support")[1]
    assert (case.variables, case.expected) == ({"question": "Can I pay by bank transfer?"}, "No")
    assert "Saved case 2 of support" in texts(at)
    assert at.number_input(key="datasets.edit.support.position").value == 2  # the same case stays open


def test_datasets_edit_json_variable_must_stay_json(app_ctx):
    datasets.import_cases(app_ctx, "nums", b'{"n": 3}\n', "cases.jsonl")
    at = open_page(PAGE, app_ctx)
    form = f"datasets.edit.nums.{datasets.get_dataset(app_ctx, 'nums').updated_at.isoformat()}.1"
    at.text_input(key=f"{form}.var.n").input("{broken")
    checked(at.button(key=f"{form}.save").click().run())
    assert any("variable 'n'" in e for e in errors(at))
    assert datasets.get_cases(app_ctx, "nums")[0].variables == {"n": 3}
    at.text_input(key=f"{form}.var.n").input("[4, 5]")
    checked(at.button(key=f"{form}.save").click().run())
    assert datasets.get_cases(app_ctx, "nums")[0].variables == {"n": [4, 5]}


def test_datasets_delete_a_case(app_ctx):
    datasets.import_cases(app_ctx, "support", CSV, "cases.csv")
    at = open_page(PAGE, app_ctx)
    form = f"datasets.edit.support.{datasets.get_dataset(app_ctx, 'support').updated_at.isoformat()}.1"
    checked(at.button(key=f"{form}.delete").click().run())
    assert [c.variables["question"] for c in datasets.get_cases(app_ctx, "support")] == ["Can I pay by card?"]
    assert "Deleted case 1 of support" in texts(at)
    assert list(at.dataframe[1].value["{{ question }}"]) == ["Can I pay by card?"]


def test_datasets_add_a_case(app_ctx):
    datasets.import_cases(app_ctx, "support", CSV, "cases.csv")
    at = open_page(PAGE, app_ctx)
    form = f"datasets.add.support.{datasets.get_dataset(app_ctx, 'support').updated_at.isoformat()}"
    at.text_input(key=f"{form}.var.question").input("Do you ship abroad?")
    at.text_input(key=f"{form}.extra_name").input("country")
    at.text_input(key=f"{form}.extra_value").input("NZ")
    at.text_input(key=f"{form}.tags").input("shipping, intl")
    checked(at.button(key=f"{form}.submit").click().run())
    case = datasets.get_cases(app_ctx, "support")[2]
    assert (case.variables, case.tags) == ({"question": "Do you ship abroad?", "country": "NZ"}, ["intl", "shipping"])
    assert "Added case 3 to support" in texts(at)


def test_datasets_export_buttons_build_csv_and_jsonl_on_click(app_ctx, monkeypatch):
    exporters = {}
    keep = MediaFileManager.add_deferred

    def spy(self, data, mimetype, coordinates, file_name=None, **kwargs):
        exporters[file_name] = data  # the callable Streamlit runs when the button is clicked
        return keep(self, data, mimetype, coordinates, file_name=file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    datasets.import_cases(app_ctx, "support", CSV, "cases.csv")
    at = open_page(PAGE, app_ctx)
    assert [b.label for b in at.download_button] == ["Download CSV", "Download JSONL"]
    csv_text = exporters["support.csv"]()
    assert csv_text.splitlines()[:2] == ['"question","expected","tags"', '"Where is my order?","Ask for the number","shipping"']
    assert exporters["support.jsonl"]().startswith('{"vars": {"question": "Where is my order?"}')


def test_datasets_viewer_sees_the_data_but_no_controls(app_admin, app_member):
    datasets.import_cases(app_admin, "support", CSV, "cases.csv")
    at = open_page(PAGE, app_member("viewer@example.com", "viewer"))
    assert list(at.dataframe[0].value["Name"]) == ["support"] and len(at.dataframe[1].value) == 2
    assert at.download_button  # a viewer may export
    assert not at.file_uploader and not at.text_area and not at.text_input and not at.expander
    assert not [b for b in at.button if b.label.startswith(("Import", "Save", "Delete", "Add"))]
    assert "editors and above change them" in texts(at)


def test_datasets_viewer_empty_state_points_to_editors(app_admin, app_member):
    at = open_page(PAGE, app_member("viewer@example.com", "viewer"))
    assert "Editors of this team import them here" in texts(at) and not at.file_uploader


def viewer_importing() -> None:
    """A script: the import component drawn for a viewer, as if the page had not hidden it."""
    from ui import session
    from ui.components import dataset_import

    dataset_import.show(session.workspace().context_for("viewer@example.com"), [], key="imp")


def test_datasets_import_by_a_viewer_is_refused_and_writes_nothing(app_admin, app_member):
    app_member("viewer@example.com", "viewer")
    at = checked(AppTest.from_function(viewer_importing, default_timeout=30).run())
    at.text_input(key="imp.0.name").input("sneaky")
    at.radio(key="imp.source").set_value(dataset_import.PASTE).run()
    at.text_area(key="imp.0.text").input("question\nhi\n")
    checked(at.button(key="imp.submit").click().run())
    assert any("dataset.write needs the editor role" in e for e in errors(at)), errors(at)
    assert datasets.list_datasets(app_admin) == []


def test_datasets_empty_dataset_takes_a_first_case(app_ctx):
    datasets.create_dataset(app_ctx, "fresh")
    at = open_page(PAGE, app_ctx)
    assert "no cases yet" in texts(at)
    form = f"datasets.add.fresh.{datasets.get_dataset(app_ctx, 'fresh').updated_at.isoformat()}"
    at.text_input(key=f"{form}.extra_name").input("topic")
    at.text_input(key=f"{form}.extra_value").input("refunds")
    checked(at.button(key=f"{form}.submit").click().run())
    assert [c.variables for c in datasets.get_cases(app_ctx, "fresh")] == [{"topic": "refunds"}]
