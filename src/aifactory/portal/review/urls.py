from django.urls import path

from aifactory.portal.review import views

urlpatterns = [
    path("calls/", views.calls_page, name="calls"),
    path("calls/new/", views.call_new, name="call-new"),
    path("calls/<int:call_id>/", views.call_detail, name="call-detail"),
    path("calls/<int:call_id>/<str:action>/", views.call_act, name="call-act"),
    path("calls/<int:call_id>/routes/<int:app_id>/", views.route_override_view, name="route-override"),
    path("reviewers/", views.reviewers_page, name="reviewers"),
    path("reviews/", views.reviews_page, name="reviews"),
    path("reviews/<int:assignment_id>/", views.review_page, name="review"),
    path("reviews/conflicts/", views.conflict_declare_view, name="conflict-declare"),
]
