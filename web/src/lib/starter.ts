// Starter Python for the paste-code editor, and the templates the wizard offers.

export const STARTER_CODE = `import streamlit as st

st.set_page_config(page_title="Hello, Burrow", page_icon="🦔")

st.title("Hello, Burrow 🦔")
st.write("Edit this code, then create the app to see it run in its own sandbox.")

name = st.text_input("What's your name?", "world")
st.success(f"Hello, {name}!")

count = st.slider("How many hedgehogs?", 1, 10, 3)
st.write("🦔" * count)
`;

export interface Template {
  id: string;
  name: string;
  description: string;
  packages: string[];
}

export const TEMPLATES: Template[] = [
  {
    id: 'csv-explorer',
    name: 'CSV Explorer',
    description: 'Upload a CSV (or use the sample), look at the rows, filter, summarise and chart.',
    packages: ['streamlit', 'pandas', 'numpy'],
  },
  {
    id: 'table-dashboard',
    name: 'Table dashboard',
    description: "Pick one of the project's tables and chart it, with burrow.sql(). Add sample data on the Data page first.",
    packages: ['streamlit', 'burrow'],
  },
];
