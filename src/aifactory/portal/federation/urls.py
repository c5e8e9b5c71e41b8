from django.urls import path

from aifactory.portal.federation import views

urlpatterns = [
    path("catalog/", views.catalog_page, name="catalog"),
    path("plan/", views.plan_page, name="plan"),
    path("plan/estimate/", views.plan_estimate, name="plan-estimate"),
    path("terms/", views.terms_list, name="terms"),
    path("sites/<slug:site>/terms/", views.terms_page, name="site-terms"),
]
