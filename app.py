"""PromptVault web app: the page shell. Run it with `promptvault serve` (or `streamlit run app.py`)."""

import streamlit as st

# An emoji favicon is drawn in the browser; a ":material/...:" one would be fetched from fonts.gstatic.com.
st.set_page_config(page_title="PromptVault", page_icon="🗂️", layout="wide")

st.navigation(
    [
        st.Page("pages/library.py", title="Library", icon=":material/library_books:", default=True),
        st.Page("pages/editor.py", title="Editor", icon=":material/edit_note:"),
    ]
).run()
