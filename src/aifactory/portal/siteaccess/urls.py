from django.urls import path

from aifactory.portal.siteaccess import views

urlpatterns = [
    path("ssh/", views.ssh_page, name="ssh"),
    path("ssh/keys/", views.ssh_key_new, name="ssh-key-new"),
    path("ssh/keys/<int:key_id>/revoke/", views.ssh_key_revoke_view, name="ssh-key-revoke"),
    path("ssh/certificates/", views.ssh_certificate_new, name="ssh-certificate-new"),
    path("ssh/certificates/<int:certificate_id>/revoke/", views.ssh_certificate_revoke_view,
         name="ssh-certificate-revoke"),
]
