"""Pages that gather several apps (home, dashboard, an organisation's page, an allocation's page, the operator's
console) and the navigation every page shows. The top layer of the portal: it may read every app, and no app
imports it. A page that shows one app's data belongs to that app's views instead."""
