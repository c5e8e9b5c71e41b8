from django.contrib import admin

from aifactory.portal.funding.models import FundingProfile

admin.site.register(FundingProfile)
